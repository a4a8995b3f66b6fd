"""The command shipping executes in-process (``events.bus``): staff's request to
dispatch. The commands of the order flow are delivered to its subscription
(``handlers``)."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from events import DomainError, command_handler, publish

from .contracts import DispatchShipment, RequestDispatch
from .models import Shipment


class NotDispatchableError(DomainError):
    """An order has no shipment to dispatch, or its shipment is cancelled."""


def dispatchable(order_ids: Iterable[UUID]) -> list[Shipment]:
    """The shipments of these orders, in the same order; NotDispatchableError unless
    every one exists and is not cancelled."""
    wanted = list(order_ids)
    found = {s.order_id: s for s in Shipment.objects.filter(order_id__in=wanted)}
    for order_id in wanted:
        shipment = found.get(order_id)
        if shipment is None:
            raise NotDispatchableError(f"no shipment for order {order_id}")
        if shipment.status == Shipment.Status.CANCELLED:
            raise NotDispatchableError(
                f"shipment {shipment.tracking_number} of order {order_id} is cancelled"
            )
    return [found[order_id] for order_id in wanted]


@command_handler(RequestDispatch)
def request_dispatch(command: RequestDispatch) -> list[Shipment]:
    """Publish DispatchShipment for each order (all or none); the shipping
    subscription changes the shipments. Orders already dispatched are sent again
    (harmless: the answer repeats)."""
    shipments = dispatchable(command.order_ids)
    publish(*(DispatchShipment(order_id=order_id) for order_id in command.order_ids))
    return shipments
