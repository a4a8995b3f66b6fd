"""``events trace ID [--json | --mermaid]``: the causation tree of an order id (any
message key), a correlation id or a message id, as the staff console's investigator
shows it (``events.ops.causation.trace``): every message in the order written, with its
time and position, and per reader whether it handled it (when, how long after it was
written), still has it pending, keeps retrying it, or parked it as a dead letter; a
saga's transitions inline, under the message that moved the saga."""

from __future__ import annotations

import json
from argparse import ArgumentTypeError
from datetime import datetime
from typing import Any, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from events.models import LogEntry
from events.ops.causation import (
    MAX_MESSAGES,
    Node,
    Receipt,
    Trace,
    UnknownTraceTarget,
    trace,
)
from events.ops.links import link_of
from events.ops.trace_formats import as_data, as_mermaid

NAME = "trace"
HELP = (
    "What an order id, a correlation id or a message id caused, and what became of it."
)
MAX_KEY = cast(int, LogEntry._meta.get_field("key").max_length)
ERROR_WIDTH = 120  # a receipt's error, first line, cut here (--json has it whole)


def target_arg(text: str) -> str:
    """An id or a key: not blank, and no longer than a key can be."""
    value = text.strip()
    if not value:
        raise ArgumentTypeError(
            "give an order id (or another message key), a correlation id or a "
            "message id"
        )
    if len(value) > MAX_KEY:
        raise ArgumentTypeError(
            f"not an id or a key: {len(value)} characters (a key has at most {MAX_KEY})"
        )
    return value


def add_arguments(parser: CommandParser) -> None:
    parser.add_argument(
        "id",
        type=target_arg,
        help="An order id (any message key), a correlation id or a message id.",
    )
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="The tree as JSON.")
    shape.add_argument(
        "--mermaid", action="store_true", help="A Mermaid flowchart of causation."
    )


def run(options: dict[str, Any], command: BaseCommand) -> None:
    try:
        found = trace(options["id"])
    except UnknownTraceTarget as error:
        raise CommandError(str(error)) from None
    out = command.stdout
    if options["json"]:
        out.write(json.dumps(as_data(found), indent=2, ensure_ascii=False))
    elif options["mermaid"]:
        out.write(as_mermaid(found), ending="")
    else:
        for line in text_lines(found):
            out.write(line)


def text_lines(found: Trace) -> list[str]:
    """The tree for people: a message a line, indented under the one that caused it,
    each followed by its receipts; a key is named where it changes (an order's
    messages name the order once, a stock change its SKU)."""
    ids = found.correlation_ids
    correlations = f"correlation{'s' if len(ids) > 1 else ''} " + ", ".join(
        map(str, ids)
    )
    zone = timezone.get_current_timezone_name()
    lines = [
        f"trace of {found.asked}: {found.size} messages, {correlations} "
        f"(times in {zone})"
    ]
    keys: list[str] = []  # the key of each message on the path to this one
    for depth, node in found.nodes():
        del keys[depth:]
        shown = not keys or keys[-1] != node.envelope.key  # a root, or a new key
        keys.append(node.envelope.key)
        lines.append("  " * depth + "- " + _message(node, with_key=shown))
        lines += ["  " * depth + "    " + _receipt(r) for r in node.receipts]
        if not node.receipts:
            lines.append("  " * depth + "    no reader")
    if found.truncated:
        lines.append(f"cut at the first {MAX_MESSAGES} messages")
    return lines


def _message(node: Node, *, with_key: bool) -> str:
    """Its type, position, time and id; its key where the path to it changes key."""
    envelope = node.envelope
    link = link_of(envelope.type, envelope.key, envelope.payload)
    key = f"{link.label or 'key'} {envelope.key}  " if with_key else ""
    pruned = "  (pruned from the log: the dead letter's copy)" if node.pruned else ""
    return (
        f"{envelope.type}  p{envelope.partition}@{envelope.offset}  "
        f"{_time(envelope.recorded_at)}  {key}message {envelope.message_id}{pruned}"
    )


def _receipt(receipt: Receipt) -> str:
    state, who = receipt.state, receipt.subscription
    letter = f"dead letter #{receipt.dead_letter_id}"
    if state == "transition":
        said = receipt.note
    elif state == "handled":
        said = f"{_time(receipt.at)}, {receipt.seconds_after:.3f} s after"
        if receipt.dead_letter_id is not None:
            said += f" (redriven {letter})"
    elif state == "parked":
        attempts = f"{receipt.attempts} attempt{'' if receipt.attempts == 1 else 's'}"
        said = (
            f"{letter} since {_time(receipt.at)}, {attempts}: {_error(receipt.error)}"
        )
    elif state in ("redriven", "discarded"):
        said = f"{letter} at {_time(receipt.at)}: {_error(receipt.error)}"
    elif state == "retrying":
        said = (
            f"attempt {receipt.attempts}, next at {_time(receipt.at)}: "
            f"{_error(receipt.error)}"
        )
    elif state == "pending":
        said = "not handled yet"
    else:  # passed
        said = "its checkpoint is past it; no inbox row kept (pruned)"
    return f"{state:<11} {who:<28} {said}"


def _time(at: datetime | None) -> str:
    if at is None:
        return "?"
    return timezone.localtime(at).isoformat(sep=" ", timespec="milliseconds")[:23]


def _error(error: str) -> str:
    first = error.strip().split("\n", 1)[0]
    return first if len(first) <= ERROR_WIDTH else first[: ERROR_WIDTH - 1] + "…"
