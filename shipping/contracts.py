"""The public contract of shipping: the messages it publishes or accepts.

The only module of this app that another app may import. Every message is on the
``shipping`` topic, keyed by ``order_id`` (one shipment per order; its messages stay in
one partition, in order).

CreateShipment answers ShipmentCreated (with a tracking number that is the same
however often it is asked) or ShipmentRejected (the order's shipment was cancelled
before). CancelShipment (the saga's compensation) answers ShipmentCancelled, also when
there was nothing to cancel; a shipment already dispatched cannot be cancelled: the
command is refused with no answer (logged), so a saga waiting for the confirmation
flags itself for manual intervention at its deadline. DispatchShipment (sent by staff)
answers ShipmentDispatched. RequestDispatch is staff's request, executed in-process
(``events.bus``): it publishes DispatchShipment for each order, all or none, and is
never published itself (no wire name).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from events import Command, Event, message

# --- commands ---------------------------------------------------------------------


class ShippingAddress(BaseModel):
    """Where a parcel goes: the recipient and their postal address."""

    model_config = ConfigDict(frozen=True)

    name: str
    line1: str
    line2: str | None = None
    city: str
    postal_code: str
    country: str


@message("shipping.CreateShipment", topic="shipping", key="order_id", version=2)
class CreateShipment(Command):
    """Prepare the order's shipment to its address (required: a parcel needs one)."""

    order_id: UUID
    shipping_address: ShippingAddress

    @staticmethod
    def from_v1(data: dict[str, Any]) -> dict[str, Any]:
        """v1 had optional flat address fields (which the saga left empty: that was
        the bug v2 fixes); stored v1 commands read as the address they carried."""
        return {
            "order_id": data["order_id"],
            "shipping_address": {
                "name": data.get("recipient", ""),
                "line1": data.get("address_line1", ""),
                "line2": data.get("address_line2") or None,
                "city": data.get("city", ""),
                "postal_code": data.get("postal_code", ""),
                "country": data.get("country", ""),
            },
        }


@message("shipping.CancelShipment", topic="shipping", key="order_id")
class CancelShipment(Command):
    """Cancel the order's shipment unless it was dispatched."""

    order_id: UUID


@message("shipping.DispatchShipment", topic="shipping", key="order_id")
class DispatchShipment(Command):
    """The parcel left the warehouse (staff, from the admin or the CLI)."""

    order_id: UUID


# --- events -----------------------------------------------------------------------


@message("shipping.ShipmentCreated", topic="shipping", key="order_id")
class ShipmentCreated(Event):
    """The order's shipment exists (sent again, identical, on a repeated create)."""

    order_id: UUID
    tracking_number: str


@message("shipping.ShipmentRejected", topic="shipping", key="order_id")
class ShipmentRejected(Event):
    """No shipment will be made for the order."""

    order_id: UUID
    reason: str


@message("shipping.ShipmentCancelled", topic="shipping", key="order_id")
class ShipmentCancelled(Event):
    """The order's shipment is cancelled (or there never was one)."""

    order_id: UUID


@message("shipping.ShipmentDispatched", topic="shipping", key="order_id")
class ShipmentDispatched(Event):
    """The order's parcel left the warehouse."""

    order_id: UUID
    tracking_number: str


class RequestDispatch(Command):
    """Staff ask for these orders' shipments to be dispatched."""

    order_ids: tuple[UUID, ...]
