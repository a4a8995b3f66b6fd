"""Staff requests (admin and CLI): they send commands, never change shipments."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from django.db import transaction

from events.errors import DomainError
from events.outbox import publish

from .contracts import DispatchShipment
from .models import Shipment


class UnknownShipmentError(DomainError):
    """No shipment for that order."""


class CannotDispatchError(DomainError):
    """The shipment is cancelled."""


def request_dispatch(*, order_ids: Iterable[UUID]) -> list[Shipment]:
    """Publish DispatchShipment for each order in one transaction (all or none);
    the shipping subscription changes the shipments. Orders already dispatched are
    sent again (harmless: the answer repeats)."""
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
    with transaction.atomic():
        publish(*(DispatchShipment(order_id=order_id) for order_id in wanted))
    return [found[order_id] for order_id in wanted]
