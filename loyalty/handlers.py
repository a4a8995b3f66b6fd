"""Loyalty's subscription: points for confirmed orders, taken back on cancel or refund.

Rule: 1 point per whole currency unit of the order's amount, rounded down
(``floor(amount)``: 42.99 EUR gives 42 points), whatever the currency. An order worth
less than one unit earns nothing (no entry, no event).

Each reaction runs inside the delivery transaction (inbox row, ledger entry, published
message and checkpoint commit together), so a redelivered message has no second
effect. Beyond that, the ledger allows one award and one revoke per order, so a second
OrderConfirmed (another message id) awards nothing more, and a refund after a cancel
revokes nothing more. Every message here is keyed by ``order_id``, so one order's
messages arrive in order: OrderPlaced before OrderConfirmed, a confirm before its
cancel or refund.

* OrderPlaced: records the order's customer, amount and currency.
* OrderConfirmed: awards ``floor(amount)`` points once; publishes PointsAwarded.
* OrderCancelled, PaymentRefunded: revoke the awarded points once, only if awarded;
  publish PointsRevoked.
"""

from __future__ import annotations

import logging
import math
from decimal import Decimal
from uuid import UUID

from events import Context, Subscription
from orders.contracts import OrderCancelled, OrderConfirmed, OrderPlaced
from payments.contracts import PaymentRefunded

from .contracts import PointsAwarded, PointsRevoked
from .models import OrderView, PointEntry

logger = logging.getLogger(__name__)

loyalty = Subscription("loyalty", topics=("orders", "payments"))


def points_for(amount: Decimal) -> int:
    """1 point per whole currency unit, rounded down."""
    return max(math.floor(amount), 0)


@loyalty.on(OrderPlaced)
def on_order_placed(event: OrderPlaced, ctx: Context) -> None:
    """Record the order (placing it again changes nothing). Events stored before
    OrderPlaced carried ``amount`` are priced from their lines."""
    amount = event.amount
    if amount is None:
        amount = sum((ln.unit_price * ln.quantity for ln in event.lines), Decimal(0))
    currency = event.currency or (event.lines[0].currency if event.lines else "")
    OrderView.objects.get_or_create(
        order_id=event.order_id,
        defaults={
            "customer_id": event.customer_id,
            "amount": amount,
            "currency": currency,
        },
    )


@loyalty.on(OrderConfirmed)
def on_order_confirmed(event: OrderConfirmed, ctx: Context) -> None:
    """Award the order's points once; an unknown order is logged and passed over."""
    order = OrderView.objects.filter(order_id=event.order_id).first()
    if order is None:
        logger.warning("loyalty: OrderConfirmed for unknown order %s", event.order_id)
        return
    points = points_for(order.amount)
    if points == 0:
        return
    _, created = PointEntry.objects.get_or_create(
        order_id=order.order_id,
        kind=PointEntry.Kind.AWARD,
        defaults={
            "customer_id": order.customer_id,
            "points": points,
            "recorded_at": ctx.envelope.recorded_at,
        },
    )
    if created:
        ctx.publish(
            PointsAwarded(
                customer_id=order.customer_id, order_id=order.order_id, points=points
            )
        )


def revoke(*, order_id: UUID, ctx: Context) -> None:
    """Take back the order's awarded points once; nothing when none were awarded."""
    award = PointEntry.objects.filter(
        order_id=order_id, kind=PointEntry.Kind.AWARD
    ).first()
    if award is None:
        return
    _, created = PointEntry.objects.get_or_create(
        order_id=order_id,
        kind=PointEntry.Kind.REVOKE,
        defaults={
            "customer_id": award.customer_id,
            "points": award.points,
            "recorded_at": ctx.envelope.recorded_at,
        },
    )
    if created:
        ctx.publish(
            PointsRevoked(
                customer_id=award.customer_id, order_id=order_id, points=award.points
            )
        )


@loyalty.on(OrderCancelled)
def on_order_cancelled(event: OrderCancelled, ctx: Context) -> None:
    revoke(order_id=event.order_id, ctx=ctx)


@loyalty.on(PaymentRefunded)
def on_payment_refunded(event: PaymentRefunded, ctx: Context) -> None:
    revoke(order_id=event.order_id, ctx=ctx)
