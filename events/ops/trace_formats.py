"""The causation tree for machines and diagrams: as JSON-ready data, and as a Mermaid
flowchart of what caused what (``manage.py events trace --json | --mermaid``).

Both are drawn from the same :class:`~events.ops.causation.Trace` the staff console
shows; the JSON holds every field of every message and receipt, nested by causation
as the tree is.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any
from uuid import UUID

from .causation import Node, Receipt, Trace
from .links import link_of

TROUBLE = {"parked", "retrying"}  # a reader failed it for good, or keeps failing it
WAITING = {"pending"}


def as_data(trace: Trace) -> dict[str, Any]:
    """The trace as JSON-ready data: ids and times as strings (ISO 8601)."""
    return {
        "asked": trace.asked,
        "correlation_ids": [str(c) for c in trace.correlation_ids],
        "messages": trace.size,
        "truncated": trace.truncated,
        "roots": [_node_data(root) for root in trace.roots],
    }


def _node_data(node: Node) -> dict[str, Any]:
    envelope = node.envelope
    fields = {name: _plain(value) for name, value in asdict(envelope).items()}
    return {
        **fields,
        "key_names": link_of(envelope.type, envelope.key, envelope.payload).label,
        "pruned": node.pruned,
        "receipts": [_receipt_data(r) for r in node.receipts],
        "children": [_node_data(child) for child in node.children],
    }


def _receipt_data(receipt: Receipt) -> dict[str, Any]:
    return {name: _plain(value) for name, value in asdict(receipt).items()}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value


def as_mermaid(trace: Trace) -> str:
    """A flowchart, top down: one node per message (its type, position, time and what
    its readers did), an arrow from each message to each it caused. A saga's
    transition is a rounded node; a message parked or retrying somewhere is drawn as
    trouble, one still pending as waiting."""
    nodes = [node for _, node in trace.nodes()]
    names = {id(node): f"m{n}" for n, node in enumerate(nodes, start=1)}
    lines = ["flowchart TD"]
    classes: dict[str, list[str]] = {"trouble": [], "waiting": []}
    for node in nodes:
        name = names[id(node)]
        label = "<br/>".join(_escape(line) for line in _label_lines(node))
        transition = any(r.state == "transition" for r in node.receipts)
        lines.append(f'  {name}(["{label}"])' if transition else f'  {name}["{label}"]')
        states = {r.state for r in node.receipts}
        if states & TROUBLE:
            classes["trouble"].append(name)
        elif states & WAITING:
            classes["waiting"].append(name)
    lines += [
        f"  {names[id(node)]} --> {names[id(child)]}"
        for node in nodes
        for child in node.children
    ]
    lines.append("  classDef trouble fill:#f8d7da,stroke:#b00020")
    lines.append("  classDef waiting fill:#fff3cd,stroke:#b58100")
    lines += [f"  class {','.join(n)} {cls}" for cls, n in classes.items() if n]
    return "\n".join(lines) + "\n"


def _label_lines(node: Node) -> list[str]:
    envelope = node.envelope
    where = f"p{envelope.partition}@{envelope.offset} {envelope.recorded_at:%H:%M:%S}"
    lines = [envelope.type, where + (" (pruned)" if node.pruned else "")]
    lines += [f"{r.subscription}: {r.note}" for r in node.receipts if r.note]
    handled = sum(r.state == "handled" for r in node.receipts)
    if handled:
        lines.append(f"handled by {handled}")
    others: dict[str, list[str]] = {}
    for r in node.receipts:
        if r.state not in ("handled", "transition"):
            others.setdefault(r.state, []).append(r.subscription)
    lines += [f"{state}: {', '.join(names)}" for state, names in others.items()]
    if not node.receipts:
        lines.append("no reader")
    return lines


def _escape(text: str) -> str:
    """Text safe inside a quoted Mermaid label: Mermaid's entity codes for the
    characters that would end the label or be read as markup."""
    codes = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;"}
    return "".join(codes.get(c, c) for c in text)
