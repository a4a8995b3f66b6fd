"""The causation tree as rows of a page: each message with its depth, what its key
names (``events.ops.links``), its payload in short and its receipts."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .causation import Node, Receipt, Trace
from .links import KeyLink, link_of

MAX_INDENT = 12  # deeper messages are drawn at this depth (the page stays readable)


@dataclass(frozen=True)
class TreeRow:
    depth: int
    node: Node
    link: KeyLink
    details: str
    receipts: tuple[Receipt, ...]

    @property
    def indent(self) -> int:
        return min(self.depth, MAX_INDENT)

    @property
    def short_type(self) -> str:
        return self.node.envelope.type.rsplit(".", 1)[-1]

    @property
    def trouble(self) -> bool:
        """Some reader parked or keeps failing it."""
        return any(r.state in ("parked", "retrying") for r in self.receipts)


def tree_rows(trace: Trace) -> list[TreeRow]:
    rows = []
    for depth, node in trace.nodes():
        envelope = node.envelope
        rows.append(
            TreeRow(
                depth=depth,
                node=node,
                link=link_of(envelope.type, envelope.key, envelope.payload),
                details=json.dumps(
                    envelope.payload, separators=(", ", ": "), ensure_ascii=False
                ),
                receipts=tuple(node.receipts),
            )
        )
    return rows
