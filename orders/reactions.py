"""What the Order does when the flow answers: commands the saga sends (confirm,
reject) and facts of other apps (paid, dispatched). Each runs the same handler as
``bus.execute`` would, but inside the delivery transaction, so the order's new events,
the inbox row and the checkpoint commit together; a concurrent change to the order
is a failure the platform retries.

A customer may cancel while the saga is still at work, so a confirmation can reach an
order that is already cancelled: that is no error to retry and park, the saga undoes
the step, and the order records nothing. A payment reaching it is recorded (the money
moved), and so is the refund the saga sends after it. A
dispatch reaching a cancelled order is left to fail: the parcel has left, and a person
must settle it (the saga's refused CancelShipment raises the alert too)."""

import logging

from events.subscriptions import Context, Subscription
from payments.contracts import PaymentRefunded, PaymentSucceeded
from shipping.contracts import ShipmentDispatched

from . import handlers
from .contracts import (
    ConfirmOrder,
    MarkOrderPaid,
    MarkOrderRefunded,
    RejectOrder,
    ShipOrder,
)
from .domain.errors import OrderClosedError

logger = logging.getLogger(__name__)
# batch_size=1: each handler loads an Order, whose new events are appended when the
# delivery transaction ends, so two messages for one order in one batch would load
# the same version and conflict; delivery would then redo the batch one message per
# transaction (events.delivery). Taking one message per transaction from the start
# saves that wasted batch, which a backlog would make common.
orders = Subscription("orders", topics=("orders", "payments", "shipping"), batch_size=1)


@orders.handles(ConfirmOrder)
def confirm_order(command: ConfirmOrder, ctx: Context) -> None:
    try:
        handlers.confirm_order(command)
    except OrderClosedError as closed:
        logger.info("%s; the saga undoes it", closed)


@orders.handles(RejectOrder)
def reject_order(command: RejectOrder, ctx: Context) -> None:
    handlers.reject_order(command)


@orders.on(PaymentSucceeded)
def on_payment_succeeded(event: PaymentSucceeded, ctx: Context) -> None:
    handlers.mark_order_paid(
        MarkOrderPaid(
            order_id=event.order_id,
            amount=event.amount,
            currency=event.currency,
            payment_reference=event.payment_reference,
        )
    )


@orders.on(PaymentRefunded)
def on_payment_refunded(event: PaymentRefunded, ctx: Context) -> None:
    handlers.mark_order_refunded(
        MarkOrderRefunded(
            order_id=event.order_id,
            amount=event.amount,
            currency=event.currency,
            refund_reference=event.refund_reference,
        )
    )


@orders.on(ShipmentDispatched)
def on_shipment_dispatched(event: ShipmentDispatched, ctx: Context) -> None:
    handlers.ship_order(
        ShipOrder(order_id=event.order_id, tracking_number=event.tracking_number)
    )
