"""Staff dispatch (admin and CLI): they send commands, never change shipments."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from events import bus
from orders.contracts import StartDispatch

from .commands import dispatchable
from .contracts import RequestDispatch
from .models import Shipment


def dispatch(*, order_ids: Iterable[UUID]) -> list[Shipment]:
    """Request the dispatch of these orders' shipments.

    First each order is told, synchronously (``StartDispatch``), that it is leaving:
    a cancelled order refuses (the DomainError reaches staff and nothing is sent), and
    from then on the customer's cancel is refused, so no cancel is accepted for a
    parcel already handed over. Orders told before a refusal stay locked for dispatch;
    sending the request again for them is harmless. Shipments that cannot leave are
    refused before any order is told (NotDispatchableError)."""
    wanted = list(order_ids)
    dispatchable(wanted)
    for order_id in wanted:
        bus.execute(StartDispatch(order_id=order_id))
    return bus.outcome(RequestDispatch(order_ids=tuple(wanted)), list)
