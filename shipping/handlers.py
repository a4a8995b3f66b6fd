"""Shipping's subscription: the shipment commands of the order saga and of staff.

Each handler runs inside the delivery transaction (inbox row, shipment row, published
messages and checkpoint commit together), so a redelivered command has no second
effect. Commands are keyed by order, so one order's commands are handled one at a time
and in order. Every command is idempotent per order: sent again, it changes nothing
and answers as the first time.

* CreateShipment: a new shipment (status ``created``), or the existing one answered
  ShipmentCreated again with the same tracking number; a cancelled one is not revived
  (a late create after the saga compensated): ShipmentRejected.
* CancelShipment: ``created`` becomes ``cancelled``; an order with no shipment gets a
  cancelled one, so a late CreateShipment is rejected; both answer ShipmentCancelled.
  A dispatched shipment is not cancelled: refused with a warning and no answer, so the
  saga's undo deadline marks it for manual intervention (the parcel is on its way).
* DispatchShipment: ``created`` becomes ``dispatched``; answered ShipmentDispatched
  (again when repeated). Dispatching a cancelled or unknown shipment is an error
  (retried, then dead-lettered); staff entrypoints check before they send.
"""

from __future__ import annotations

import logging

from events import Context, Subscription

from .commands import NotDispatchableError
from .contracts import (
    CancelShipment,
    CreateShipment,
    DispatchShipment,
    ShipmentCancelled,
    ShipmentCreated,
    ShipmentDispatched,
    ShipmentRejected,
)
from .models import Shipment, tracking_number

logger = logging.getLogger(__name__)

shipping = Subscription("shipping", topics=("shipping",))


@shipping.handles(CreateShipment)
def create_shipment(cmd: CreateShipment, ctx: Context) -> None:
    """Create the order's shipment once; answer ShipmentCreated or ShipmentRejected."""
    address = cmd.shipping_address
    shipment, _ = Shipment.objects.select_for_update().get_or_create(
        order_id=cmd.order_id,
        defaults={
            "recipient": address.name,
            "address_line1": address.line1,
            "address_line2": address.line2 or "",
            "postal_code": address.postal_code,
            "city": address.city,
            "country": address.country,
            "tracking_number": tracking_number(cmd.order_id),
            "status": Shipment.Status.CREATED,
        },
    )
    if shipment.status == Shipment.Status.CANCELLED:
        ctx.publish(
            ShipmentRejected(
                order_id=cmd.order_id, reason="the order's shipment was cancelled"
            )
        )
        return
    ctx.publish(
        ShipmentCreated(order_id=cmd.order_id, tracking_number=shipment.tracking_number)
    )


@shipping.handles(CancelShipment)
def cancel_shipment(cmd: CancelShipment, ctx: Context) -> None:
    """Cancel unless dispatched; answer ShipmentCancelled (nothing when dispatched)."""
    shipment, _ = Shipment.objects.select_for_update().get_or_create(
        order_id=cmd.order_id,
        defaults={
            "tracking_number": tracking_number(cmd.order_id),
            "status": Shipment.Status.CANCELLED,
        },
    )
    if shipment.status == Shipment.Status.DISPATCHED:
        logger.warning(
            "cancel of order %s refused: shipment %s is dispatched",
            cmd.order_id,
            shipment.tracking_number,
        )
        return
    if shipment.status != Shipment.Status.CANCELLED:
        shipment.status = Shipment.Status.CANCELLED
        shipment.save(update_fields=["status", "updated_at"])
    ctx.publish(ShipmentCancelled(order_id=cmd.order_id))


@shipping.handles(DispatchShipment)
def dispatch_shipment(cmd: DispatchShipment, ctx: Context) -> None:
    """Mark the shipment dispatched; answer ShipmentDispatched."""
    shipment = (
        Shipment.objects.select_for_update().filter(order_id=cmd.order_id).first()
    )
    if shipment is None or shipment.status == Shipment.Status.CANCELLED:
        raise NotDispatchableError(
            f"order {cmd.order_id} has no shipment to dispatch"
            if shipment is None
            else f"shipment {shipment.tracking_number} is cancelled"
        )
    if shipment.status != Shipment.Status.DISPATCHED:
        shipment.status = Shipment.Status.DISPATCHED
        shipment.save(update_fields=["status", "updated_at"])
    ctx.publish(
        ShipmentDispatched(
            order_id=cmd.order_id, tracking_number=shipment.tracking_number
        )
    )
