"""The orders subscription: what the Order does when the flow answers. Commands the saga
sends (confirm, reject: the rejection of a charge that got no answer records the failed
payment too), run their one handler (``commands``) inside the delivery
transaction, and so do the commands that record other apps' facts (paid, declined,
refunded, dispatched): the order's new events, the inbox row and the checkpoint commit
together; a concurrent change to the order is a failure the platform retries.

A customer may cancel while the saga is still at work, so a confirmation can reach an
order that is already cancelled: that is an answer, not an error to retry and park (the
saga undoes the step, and the order records nothing). A payment reaching it is recorded
(the money moved), and so is the refund the saga sends after it. A dispatch reaching a
cancelled order is left to fail: the parcel has left, and a person must settle it (the
saga's refused CancelShipment raises the alert too).
"""

from events import Context, Subscription, bus
from payments.contracts import PaymentDeclined, PaymentRefunded, PaymentSucceeded
from shipping.contracts import ShipmentDispatched

from .contracts import (
    ConfirmOrder,
    MarkOrderPaid,
    MarkOrderPaymentDeclined,
    MarkOrderRefunded,
    RejectOrder,
    ShipOrder,
)
from .domain.errors import OrderClosedError

# batch_size=1: each handler loads an Order, whose new events are appended when the
# delivery transaction ends, so two messages for one order in one batch would load
# the same version and conflict; delivery would then redo the batch one message per
# transaction (events.delivery.drain). Taking one message per transaction from the
# start saves that wasted batch, which a backlog would make common.
orders = Subscription("orders", topics=("orders", "payments", "shipping"), batch_size=1)
orders.executes(ConfirmOrder, ignoring=(OrderClosedError,))
orders.executes(RejectOrder)


@orders.on(PaymentSucceeded)
def on_payment_succeeded(event: PaymentSucceeded, ctx: Context) -> None:
    bus.run(
        MarkOrderPaid(
            order_id=event.order_id,
            amount=event.amount,
            currency=event.currency,
            payment_reference=event.payment_reference,
        )
    )


@orders.on(PaymentDeclined)
def on_payment_declined(event: PaymentDeclined, ctx: Context) -> None:
    bus.run(MarkOrderPaymentDeclined(order_id=event.order_id, reason=event.reason))


@orders.on(PaymentRefunded)
def on_payment_refunded(event: PaymentRefunded, ctx: Context) -> None:
    bus.run(
        MarkOrderRefunded(
            order_id=event.order_id,
            amount=event.amount,
            currency=event.currency,
            refund_reference=event.refund_reference,
        )
    )


@orders.on(ShipmentDispatched)
def on_shipment_dispatched(event: ShipmentDispatched, ctx: Context) -> None:
    bus.run(ShipOrder(order_id=event.order_id, tracking_number=event.tracking_number))
