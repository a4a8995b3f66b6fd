"""Message types of the benchmark, one topic per subscription under test, so that a
commit wakes only the subscription being measured."""

from __future__ import annotations

from uuid import UUID

from events.messages import Event, message


@message("bench.Noop", topic="bench.noop", key="key")
class Noop(Event):
    key: str
    n: int


@message("bench.RowWritten", topic="bench.rows", key="key")
class RowWritten(Event):
    key: str
    n: int


@message("bench.RowWrittenSingly", topic="bench.rows_single", key="key")
class RowWrittenSingly(Event):
    key: str
    n: int


@message("bench.CallMade", topic="bench.scale", key="key")
class CallMade(Event):
    """A message whose handler calls another service (``bench.scale``)."""

    key: str
    n: int


@message("bench.Ping", topic="bench.latency", key="key")
class Ping(Event):
    key: str
    n: int


@message("bench.TallyAdded", topic="bench.tally", key="tally_id")
class TallyAdded(Event):
    """The event-store benchmark's one event type: an amount added to a tally."""

    tally_id: UUID
    amount: int
