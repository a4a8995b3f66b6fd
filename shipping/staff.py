"""Staff requests (admin and CLI): they send commands, never change shipments."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from django.db import transaction

from events import bus
from events.errors import DomainError
from events.outbox import publish
from orders.contracts import StartDispatch

from .contracts import DispatchShipment
from .models import Shipment


class UnknownShipmentError(DomainError):
    """No shipment for that order."""


class CannotDispatchError(DomainError):
    """The shipment is cancelled."""


def request_dispatch(*, order_ids: Iterable[UUID]) -> list[Shipment]:
    """Publish DispatchShipment for each order in one transaction (all or none);
    the shipping subscription changes the shipments. Orders already dispatched are
    sent again (harmless: the answer repeats).

    First each order is told, synchronously (``StartDispatch``), that it is leaving:
    a cancelled order refuses (the DomainError reaches staff and nothing is sent), and
    from then on the customer's cancel is refused, so no cancel is accepted for a
    parcel already handed over. Orders told before a refusal stay locked for dispatch;
    sending the request again for them is harmless."""
    wanted = list(order_ids)
    found = {s.order_id: s for s in Shipment.objects.filter(order_id__in=wanted)}
    for order_id in wanted:
        shipment = found.get(order_id)
        if shipment is None:
            raise UnknownShipmentError(f"no shipment for order {order_id}")
        if shipment.status == Shipment.Status.CANCELLED:
            raise CannotDispatchError(
                f"shipment {shipment.tracking_number} of order {order_id} is cancelled"
            )
    for order_id in wanted:
        bus.execute(StartDispatch(order_id=order_id))
    with transaction.atomic():
        publish(*(DispatchShipment(order_id=order_id) for order_id in wanted))
    return [found[order_id] for order_id in wanted]
