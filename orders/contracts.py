"""The public contract of orders: the messages it publishes or accepts.

The only module of this app that another app may import. Every message is on the
``orders`` topic, keyed by ``order_id`` (one order's messages stay in one partition, in
order). Amounts are ``Decimal`` (JSON: strings such as ``"12.50"``); currencies are ISO
4217 codes. Prices are never taken from a client: commands name SKUs and quantities,
and the order's events carry the prices orders looked up when it accepted them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from events import Command, Event, message

# --- values used inside messages --------------------------------------------------


class Address(BaseModel):
    """A postal address, as the customer gave it."""

    model_config = ConfigDict(frozen=True)

    name: str
    line1: str
    line2: str | None = None
    city: str
    postal_code: str
    country: str


class OrderItem(BaseModel):
    """What a customer asks for: a SKU and a quantity (no price)."""

    model_config = ConfigDict(frozen=True)

    sku: str
    quantity: int


class OrderLine(BaseModel):
    """A line of an order: the SKU, how many, and the unit price orders charged."""

    model_config = ConfigDict(frozen=True)

    sku: str
    quantity: int
    unit_price: Decimal
    currency: str


# --- events -----------------------------------------------------------------------


@message("orders.OrderPlaced", topic="orders", key="order_id", version=2)
class OrderPlaced(Event):
    """A customer placed an order; the fulfilment saga starts here."""

    order_id: UUID
    customer_id: UUID
    lines: tuple[OrderLine, ...]
    shipping_address: Address
    payment_method: str
    # What the fulfilment saga charges (the lines' sum) and in which currency; optional
    # so that events stored before these fields existed still read.
    amount: Decimal | None = None
    currency: str | None = None

    @staticmethod
    def from_v1(data: dict[str, Any]) -> dict[str, Any]:
        # v1 lines had no currency: every v1 order was priced in euros.
        lines = [{"currency": "EUR", **line} for line in data["lines"]]
        return {**data, "lines": lines}


@message("orders.ItemAdded", topic="orders", key="order_id")
class ItemAdded(Event):
    """Units of a SKU were added (to its line, at that line's price, if it exists)."""

    order_id: UUID
    sku: str
    quantity: int
    unit_price: Decimal
    currency: str


@message("orders.ItemRemoved", topic="orders", key="order_id")
class ItemRemoved(Event):
    """Units of a SKU were taken off the order (the line goes when none are left)."""

    order_id: UUID
    sku: str
    quantity: int


@message("orders.OrderPaid", topic="orders", key="order_id")
class OrderPaid(Event):
    order_id: UUID
    amount: Decimal
    currency: str
    payment_reference: str


@message("orders.OrderRefunded", topic="orders", key="order_id")
class OrderRefunded(Event):
    """The order's payment was given back in full (after a cancellation or a failed
    fulfilment)."""

    order_id: UUID
    amount: Decimal
    currency: str
    refund_reference: str


@message("orders.OrderPaymentDeclined", topic="orders", key="order_id")
class OrderPaymentDeclined(Event):
    """The payment provider refused the order's charge (``reason``, e.g.
    ``card_declined``); nothing was taken."""

    order_id: UUID
    reason: str


@message("orders.OrderPaymentFailed", topic="orders", key="order_id")
class OrderPaymentFailed(Event):
    """The charge got no answer: the fulfilment gave up on it (the provider failing
    past every retry, or not answering by the step's deadline). Nothing is known to
    be taken; a charge that lands late is recorded (OrderPaid) and refunded."""

    order_id: UUID
    reason: str


@message("orders.OrderConfirmed", topic="orders", key="order_id")
class OrderConfirmed(Event):
    order_id: UUID
    # The shipment's tracking number, known when the fulfilment confirms (optional:
    # confirmations recorded before it existed have none).
    tracking_number: str | None = None


@message("orders.OrderShipped", topic="orders", key="order_id")
class OrderShipped(Event):
    order_id: UUID
    tracking_number: str


@message("orders.OrderDispatchStarted", topic="orders", key="order_id")
class OrderDispatchStarted(Event):
    """Staff are handing the parcel over: the order can no longer be cancelled."""

    order_id: UUID


@message("orders.OrderRejected", topic="orders", key="order_id")
class OrderRejected(Event):
    """The order could not be fulfilled (e.g. no stock, payment declined): ``reason``
    in words a customer reads, ``reason_code`` a stable code for machines (empty on
    events recorded before codes existed)."""

    order_id: UUID
    reason: str
    reason_code: str = ""


@message("orders.OrderCancelled", topic="orders", key="order_id")
class OrderCancelled(Event):
    """The order was called off, by the customer, staff or a compensating saga."""

    order_id: UUID
    reason: str


# --- commands ---------------------------------------------------------------------


@message("orders.PlaceOrder", topic="orders", key="order_id")
class PlaceOrder(Command):
    """Place a new order; the caller chooses ``order_id`` (placing it twice fails)."""

    order_id: UUID
    customer_id: UUID
    items: tuple[OrderItem, ...]
    shipping_address: Address
    payment_method: str


@message("orders.AddItem", topic="orders", key="order_id")
class AddItem(Command):
    order_id: UUID
    sku: str
    quantity: int


@message("orders.RemoveItem", topic="orders", key="order_id")
class RemoveItem(Command):
    order_id: UUID
    sku: str
    quantity: int


@message("orders.CancelOrder", topic="orders", key="order_id")
class CancelOrder(Command):
    """Call the order off (a no-op when it is already cancelled or rejected)."""

    order_id: UUID
    reason: str = ""


@message("orders.MarkOrderPaid", topic="orders", key="order_id")
class MarkOrderPaid(Command):
    """Record the payment (a no-op when this payment reference is already recorded)."""

    order_id: UUID
    amount: Decimal
    currency: str
    payment_reference: str


@message("orders.MarkOrderRefunded", topic="orders", key="order_id")
class MarkOrderRefunded(Command):
    """Record that the payment was refunded (a no-op when nothing was paid, or the
    refund is already recorded)."""

    order_id: UUID
    amount: Decimal
    currency: str
    refund_reference: str


@message("orders.MarkOrderPaymentDeclined", topic="orders", key="order_id")
class MarkOrderPaymentDeclined(Command):
    """Record that the provider declined the charge (a no-op once the order is paid,
    or the decline is recorded)."""

    order_id: UUID
    reason: str


@message("orders.ConfirmOrder", topic="orders", key="order_id")
class ConfirmOrder(Command):
    """Confirm the order (a no-op when it is already confirmed or shipped)."""

    order_id: UUID
    tracking_number: str | None = None  # of the shipment created for it, if any


@message("orders.ShipOrder", topic="orders", key="order_id")
class ShipOrder(Command):
    """Record that the order left (a no-op when shipped with this tracking number)."""

    order_id: UUID
    tracking_number: str


@message("orders.StartDispatch", topic="orders", key="order_id")
class StartDispatch(Command):
    """Sent by shipping's staff entrypoints, synchronously, before a shipment is
    dispatched: refused for an order that is cancelled (or not confirmed), and from
    then on a cancellation is refused. Closes the window between a dispatch and the
    order learning of it (OrderShipped) in which a cancel could still be accepted."""

    order_id: UUID


@message("orders.RejectOrder", topic="orders", key="order_id")
class RejectOrder(Command):
    """Reject the order (a no-op when it is already rejected or cancelled)."""

    order_id: UUID
    reason: str = ""
    reason_code: str = ""
