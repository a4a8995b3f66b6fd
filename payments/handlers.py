"""Payments' subscription: charge and refund orders through the payment provider.

Both handlers are ``outside=True``: the provider call runs with no database transaction
open, carrying ``ctx.idempotency_key`` (stable across redeliveries of one message), and
the platform records the inbox row, the published answer and the checkpoint in a short
transaction afterwards. The handler's own ``Payment`` row is written with a plain ORM
``update_or_create`` keyed by ``order_id`` (autocommit, since no transaction is open):
a crash before the platform's record makes a redelivery repeat the same provider call
with the same key, which the provider answers as the first time, and rewrite the same
row. So a message is charged or refunded once however often it is delivered.

Per order, a command is idempotent across messages too (commands are keyed by order,
so one order's commands run one at a time, in order): an order already charged is
answered PaymentSucceeded again without a provider call, an order already refunded
PaymentRefunded. A declined order may be charged again (say with another card).
RefundPayment for an order with no successful charge (never charged, or declined)
refunds nothing and answers PaymentRefunded with amount 0, so a compensating saga gets
its confirmation instead of waiting for its deadline; it marks the order refunded all
the same, so a charge handled after it (a redriven dead letter) takes no money.

Failures: a decline is an answer (PaymentDeclined). A provider that is down or slower
than the client timeout raises; the platform retries with exponential backoff and
dead-letters after ``max_attempts``; staff redrive it, and the same key keeps the
retry from charging twice.

Throughput. Each payment waits for the provider, so payments per second are bounded by
(concurrent provider calls) / (provider latency), and the database is never the limit.
The subscription is drained through a window (``events.window``): one drain per
partition (so one order's commands stay in order) with up to ``PAYMENTS_CONCURRENCY``
provider calls in flight, each for a different order. So at most
``EVENTS_PARTITIONS x PAYMENTS_CONCURRENCY`` calls are in flight (8 x 8 = 64 by
default: about 8 payments/s with an 8 s provider, 320/s at 200 ms), provided there is
a thread per partition drain:

* the in-process dispatcher: ``EVENTS_INPROCESS_THREADS`` drains at once for this
  subscription (each subscription has its own threads, so slow payments never hold
  back the others);
* Celery: this subscription's drain tasks go to their own queue, ``payments``, served
  by a worker of threads with one per partition, e.g. ``celery -A shop worker -Q
  payments --pool threads --concurrency 8``; each drain runs its calls in its own pool.

Keys spread over partitions by hash, so a burst that lands unevenly fills some windows
first; raising ``PAYMENTS_CONCURRENCY`` raises the bound without moving any key
(raising ``EVENTS_PARTITIONS`` would).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from django.conf import settings

from events import Context, Subscription

from .contracts import (
    ChargePayment,
    PaymentDeclined,
    RefundPayment,
)
from .models import Payment
from .provider import Declined, get_provider

logger = logging.getLogger(__name__)

payments = Subscription(
    "payments",
    topics=("payments",),
    queue="payments",
    concurrency=settings.PAYMENTS_CONCURRENCY,
)


# What a customer reads for the providers' decline codes (others: a generic sentence
# with the code). The code itself is kept beside, for machines.
DECLINES = {
    "card_declined": "the card was declined",
    "insufficient_funds": "the card has insufficient funds",
    "expired_card": "the card has expired",
    "invalid_payment_method": "the payment method is not valid",
}


def decline_in_words(code: str) -> str:
    return DECLINES.get(code, f"the payment was declined ({code})")


@payments.handles(ChargePayment, outside=True)
def charge_payment(cmd: ChargePayment, ctx: Context) -> None:
    """Charge the order once; answer PaymentSucceeded or PaymentDeclined. A transient
    provider error propagates (retried, then dead-lettered)."""
    payment = Payment.objects.filter(order_id=cmd.order_id).first()
    if payment is not None and payment.status == Payment.Status.SUCCEEDED:
        ctx.publish(payment.succeeded())
        return
    if payment is not None and payment.status == Payment.Status.REFUNDED:
        logger.warning("charge of order %s: already refunded", cmd.order_id)
        ctx.publish(payment.refunded())
        return
    record: dict[str, Any] = {
        "amount": cmd.amount,
        "currency": cmd.currency,
        "payment_method": cmd.payment_method,
    }
    try:
        result = get_provider().charge(idempotency_key=ctx.idempotency_key, **record)
    except Declined as declined:
        Payment.objects.update_or_create(
            order_id=cmd.order_id,
            defaults={
                **record,
                "status": Payment.Status.DECLINED,
                "charge_reference": "",
                "decline_reason": declined.reason,
            },
        )
        ctx.publish(
            PaymentDeclined(
                order_id=cmd.order_id,
                reason=decline_in_words(declined.reason),
                code=declined.reason,
            )
        )
        return
    payment, _ = Payment.objects.update_or_create(
        order_id=cmd.order_id,
        defaults={
            **record,
            "amount": result.amount,
            "currency": result.currency,
            "status": Payment.Status.SUCCEEDED,
            "charge_reference": result.reference,
            "decline_reason": "",
        },
    )
    ctx.publish(payment.succeeded())


@payments.handles(RefundPayment, outside=True)
def refund_payment(cmd: RefundPayment, ctx: Context) -> None:
    """Refund the order's charge in full, once; answer PaymentRefunded (amount 0 when
    nothing was charged)."""
    payment = Payment.objects.filter(order_id=cmd.order_id).first()
    if payment is None or payment.status == Payment.Status.DECLINED:
        # Nothing to give back, but the order is closed for charges from now on: a
        # charge redriven from the dead letters later is answered "refunded", never
        # taken (see charge_payment).
        payment, _ = Payment.objects.update_or_create(
            order_id=cmd.order_id,
            defaults={
                "status": Payment.Status.REFUNDED,
                "amount": Decimal("0.00"),
                "currency": payment.currency if payment else "",
            },
        )
        ctx.publish(payment.refunded())
        return
    if payment.status == Payment.Status.SUCCEEDED:
        result = get_provider().refund(
            idempotency_key=ctx.idempotency_key,
            charge_reference=payment.charge_reference,
        )
        payment, _ = Payment.objects.update_or_create(
            order_id=cmd.order_id,
            defaults={
                "status": Payment.Status.REFUNDED,
                "refund_reference": result.reference,
            },
        )
    ctx.publish(payment.refunded())
