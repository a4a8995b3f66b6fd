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
answers ShipmentDispatched.
"""

from __future__ import annotations

from uuid import UUID

from events.messages import Command, Event, message

# --- commands ---------------------------------------------------------------------


@message("shipping.CreateShipment", topic="shipping", key="order_id")
class CreateShipment(Command):
    """Prepare the order's shipment; the address fields are optional."""

    order_id: UUID
    recipient: str = ""
    address_line1: str = ""
    address_line2: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = ""


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
