"""Journeys: how long a key takes from one message to another, declared by an app.

A journey names a start message type and its end types, keyed by the message key
(``journey("orders.settled", start=OrderPlaced, ends=(OrderConfirmed, ...))`` in the
app that owns them; the platform knows no message by name). When an end message is
written to the log, the writer looks up the first start message of the same key in the
log (an indexed read, before it takes its partitions' offsets, so no lock is held
longer) and, once the write commits, observes the time between the two in
``events_journey_seconds{journey, end}``. Only the first end of a key counts (a
cancellation after a confirmation is no second journey). An end message is written
once, so each journey is observed once, in whichever process published its end. A
start message older than the log's retention is gone: that journey is not observed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from ..messages import Message
from ..meters import journey as journey_seconds
from ..models import LogEntry
from .pending import PendingMessage


@dataclass(frozen=True)
class Journey:
    name: str
    start: str  # wire names
    ends: frozenset[str]


_by_end: dict[str, Journey] = {}


def journey(
    name: str, *, start: type[Message], ends: Sequence[type[Message]]
) -> Journey:
    """Declare a journey (from an app's ``ready()``): from ``start`` to the first of
    ``ends`` written for the same key. An end type belongs to one journey."""
    declared = Journey(name, start.wire_name, frozenset(end.wire_name for end in ends))
    for end in declared.ends:
        other = _by_end.get(end)
        if other is not None and other.name != name:
            raise ValueError(f"{end} already ends the journey {other.name}")
        _by_end[end] = declared
    return declared


def observe_after_commit(pending: Sequence[PendingMessage]) -> None:
    """For each end message among ``pending`` (about to be written in this
    transaction), find its journey's start and observe the journey once this commits."""
    ends = [p for p in pending if p.message.wire_name in _by_end]
    if not ends:
        return
    observations: list[tuple[Journey, PendingMessage, datetime]] = []
    for item in ends:
        declared = _by_end[item.message.wire_name]
        started = _unended_start(declared, item.message.message_key())
        if started is not None:
            observations.append((declared, item, started))
    if observations:
        transaction.on_commit(lambda: _observe(observations))


def _unended_start(declared: Journey, key: str) -> datetime | None:
    """When the key's journey started, unless it has not, or it has ended before."""
    rows = LogEntry.objects.filter(
        key=key, type__in=[declared.start, *declared.ends]
    ).values_list("type", "recorded_at")
    starts = [at for type_, at in rows if type_ == declared.start]
    if not starts or any(type_ in declared.ends for type_, _ in rows):
        return None
    return min(starts)


def _observe(observations: list[tuple[Journey, PendingMessage, datetime]]) -> None:
    for declared, item, started in observations:
        if item.recorded_at is not None:  # stamped by the write
            journey_seconds.labels(declared.name, item.message.wire_name).observe(
                max((item.recorded_at - started).total_seconds(), 0.0)
            )
