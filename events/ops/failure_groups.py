"""Dead letters grouped by failure: one line per way of failing, not per message.

A provider outage parks hundreds of charges with the same error but for different
orders, amounts and timeouts; staff want to see it once, with how many, since when,
and to redrive them together. A group is a (subscription, message type, error class,
message shape): the shape is the error's first line with the parts that vary from one
message to the next (ids, numbers, quoted values) replaced by placeholders, so
``ProviderTimeout: no answer within 2000 ms`` and ``... within 10000 ms`` are one
failure. A group's id is a digest of those four, stable as long as the failure is.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime

from ..models import DeadLetter

MAX_SHAPE = 200
_PLACEHOLDERS = (
    (
        re.compile(
            r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
            r"[0-9a-fA-F]{12}"
        ),
        "<id>",
    ),
    (re.compile(r"'[^']*'|\"[^\"]*\""), "'…'"),
    (re.compile(r"\b[0-9a-fA-F]{16,}\b"), "<hex>"),
    # references such as TRK4F2A9Q7ZX1 or ch_3Nf...: letters and at least one digit
    (re.compile(r"\b[A-Za-z][A-Za-z_]*\d[\w]{4,}\b"), "<ref>"),
    (re.compile(r"\d+(?:[.,:]\d+)*"), "<n>"),
)
_CLASS = re.compile(r"^([A-Za-z_][\w.]*): ")


def error_class(error: str) -> str:
    """The exception class named at the head of a stored error (``Name: text``)."""
    found = _CLASS.match(error)
    return found.group(1) if found else ""


def shape(error: str) -> str:
    """The error's message without its class, first line only, with what varies
    between messages replaced by placeholders."""
    text = error.strip().splitlines()[0] if error.strip() else ""
    found = _CLASS.match(text)
    if found:
        text = text[found.end() :]
    for pattern, placeholder in _PLACEHOLDERS:
        text = pattern.sub(placeholder, text)
    return text[:MAX_SHAPE]


def group_id(subscription: str, type: str, error_class: str, shape: str) -> str:
    text = "\x1f".join((subscription, type, error_class, shape))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class FailureGroup:
    """Dead letters failing the same way; ``letter_ids`` oldest first."""

    id: str
    subscription: str
    type: str
    error_class: str
    shape: str
    first_seen: datetime
    last_seen: datetime
    letter_ids: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # of the letters, oldest first
    example: str = ""  # the newest letter's error, in full

    @property
    def count(self) -> int:
        return len(self.letter_ids)


def groups(
    *,
    status: str | None = DeadLetter.Status.PARKED,
    subscription: str | None = None,
    type: str | None = None,
) -> list[FailureGroup]:
    """The failure groups of the dead letters of this status (parked by default),
    largest first, then most recently seen."""
    letters = DeadLetter.objects.order_by("parked_at", "id")
    if status:
        letters = letters.filter(status=status)
    if subscription:
        letters = letters.filter(subscription=subscription)
    if type:
        letters = letters.filter(type=type)
    found: dict[str, FailureGroup] = {}
    rows = letters.values_list(
        "id", "subscription", "type", "key", "error", "parked_at"
    )
    for letter_id, sub, kind, key, error, parked_at in rows.iterator():
        cls, form = error_class(error), shape(error)
        gid = group_id(sub, kind, cls, form)
        group = found.get(gid)
        if group is None:
            group = found[gid] = FailureGroup(
                gid, sub, kind, cls, form, first_seen=parked_at, last_seen=parked_at
            )
        group.letter_ids.append(letter_id)
        group.keys.append(key)
        group.first_seen = min(group.first_seen, parked_at)
        group.last_seen = max(group.last_seen, parked_at)
        if parked_at >= group.last_seen:
            group.example = error
    return sorted(found.values(), key=lambda g: (-g.count, -g.last_seen.timestamp()))


def find(gid: str, *, status: str | None = DeadLetter.Status.PARKED) -> FailureGroup:
    """The group with this id among the dead letters of this status."""
    for group in groups(status=status):
        if group.id == gid:
            return group
    raise UnknownGroup(f"no failure group {gid!r} among the {status or 'all'} letters")


class UnknownGroup(LookupError):
    """No dead letter (any more) fails the way this group id names."""
