"""Keeping a read-model row in step with its order's stream when deliveries are not.

A projection applies an order's events one after the other, each onto what the row
holds, which is right only while they come in stream order. They do not always: a
message that fails past its retries is parked and the partition moves on, so the
order's later events are applied first, and the parked one comes back when staff
redrive it, older than the row. Applied blindly it would move the row back (a shipped
order reading "confirmed" again, its version going down); skipped, its effect (a
payment, an item) would be lost for good, since the row's later events never carry it.

So a row records the stream version it reflects (``version``), and an event that is
not the next one, an old one redriven (at or below ``version``) or one after a gap
(above ``version + 1``: an earlier one is parked), is never applied onto the row:
the row is folded again from the order's stream, the truth, up to the newer of the
two versions. Nothing goes backwards, and nothing parked is lost: the row then reads
exactly as the order stood at that version, and a redrive of the parked event changes
nothing more. The fold is deterministic (the stream's own events and times), so a
rebuild, which sees every event in order, gives the same row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast
from uuid import UUID

from events import Event, streams

from ..domain import Order
from ..domain.state import OrderState, evolve


def in_step(row_version: int | None, event_version: int) -> bool:
    """Whether an event of the order's stream is the next one for a row at
    ``row_version`` (None: no row yet, so only the stream's first event is)."""
    return event_version == (row_version or 0) + 1


@dataclass(frozen=True)
class Folded:
    """The order folded from its stream, with the times of its first and last event."""

    state: OrderState
    version: int
    created_at: datetime
    updated_at: datetime


def fold(order_id: UUID, *, upto_version: int) -> Folded:
    """The order as its stream stood at ``upto_version`` (every event up to it is
    committed: the event being delivered is, and appends follow versions)."""
    envelopes = streams.read(Order.stream_for(order_id), upto_version=upto_version)
    state = OrderState()
    for envelope in envelopes:
        state = evolve(state, cast(Event, envelope.message()))  # a stream: events
    return Folded(
        state=state,
        version=envelopes[-1].stream_version or 0,
        created_at=envelopes[0].recorded_at,
        updated_at=envelopes[-1].recorded_at,
    )
