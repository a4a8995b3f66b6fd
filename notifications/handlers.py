"""Notifications' subscription: mail the customer when their order is confirmed,
rejected, shipped or cancelled.

* Local handlers (inside the delivery transaction, so exactly once) keep two read
  models: the recipient directory (customers' events) and whose order it is
  (OrderPlaced). Both are upserts: handling an event again changes nothing.
* Outside handlers (``outside=True``: no transaction open, so no mail server call
  ever holds a transaction) send one mail per (order, kind):

  1. look up the recipient; an order or customer the views do not know yet raises
     ``UnknownRecipientError``, which the platform retries with backoff (the views
     catch up: customers' events are on another partition);
  2. claim the ``Notification`` row (status ``sending``) in its own short
     transaction; a ``sent`` row means the mail already went: do nothing;
  3. send through Django's mail framework; if that raises, release the claim
     (delete the row) and re-raise, so the platform retries with backoff and finally
     dead-letters. A failing mail server only delays the mail; nothing is swallowed;
  4. mark the row ``sent``. The platform then records the delivery (inbox row,
     checkpoint); a crash before that finds ``sent`` on redelivery and sends nothing.

Remaining window: a crash (process killed, not an exception) between 3 and 4 leaves a
``sending`` row with the mail possibly sent. A redelivery then **resends**, logging a
warning: SMTP has no idempotency key, so we cannot know whether the mail went, and a
missing "your order shipped" mail is worse than a rare duplicate (at-least-once in
that window, exactly once otherwise). The mail's Message-ID is stable per (order,
kind), so mail clients may fold such a duplicate. A ``sending`` row is never a
concurrent attempt: one order's events are on one partition, which one drain at a
time handles (the drain lock), so finding one means the earlier attempt died.
"""

from __future__ import annotations

import logging
from uuid import UUID

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone

from customers.contracts import CustomerRegistered, CustomerUpdated
from events import Context, Subscription
from orders.contracts import (
    OrderCancelled,
    OrderConfirmed,
    OrderPlaced,
    OrderRejected,
    OrderShipped,
)

from .models import Notification, OrderRecipient, Recipient

logger = logging.getLogger(__name__)

notifications = Subscription("notifications", topics=("orders", "customers"))


class UnknownRecipientError(LookupError):
    """The order or its customer is not in the views yet; retried until they are."""


# --- read models (local: in the delivery transaction) --------------------------


@notifications.on(CustomerRegistered)
def on_customer_registered(event: CustomerRegistered, ctx: Context) -> None:
    _keep_recipient(customer_id=event.customer_id, email=event.email, name=event.name)


@notifications.on(CustomerUpdated)
def on_customer_updated(event: CustomerUpdated, ctx: Context) -> None:
    _keep_recipient(customer_id=event.customer_id, email=event.email, name=event.name)


@notifications.on(OrderPlaced)
def on_order_placed(event: OrderPlaced, ctx: Context) -> None:
    OrderRecipient.objects.update_or_create(
        order_id=event.order_id, defaults={"customer_id": event.customer_id}
    )


def _keep_recipient(*, customer_id: UUID, email: str, name: str) -> None:
    Recipient.objects.update_or_create(
        customer_id=customer_id, defaults={"email": email, "name": name}
    )


# --- mails (outside: no transaction open) ---------------------------------------


@notifications.on(OrderConfirmed, outside=True)
def on_order_confirmed(event: OrderConfirmed, ctx: Context) -> None:
    notify(
        order_id=event.order_id,
        kind=Notification.Kind.CONFIRMED,
        subject="Your order is confirmed",
        text=(
            f"your order {event.order_id} is confirmed. "
            "We will let you know when it ships."
        ),
    )


@notifications.on(OrderRejected, outside=True)
def on_order_rejected(event: OrderRejected, ctx: Context) -> None:
    notify(
        order_id=event.order_id,
        kind=Notification.Kind.REJECTED,
        subject="We could not accept your order",
        text=f"we could not accept your order {event.order_id}: {event.reason}.",
    )


@notifications.on(OrderShipped, outside=True)
def on_order_shipped(event: OrderShipped, ctx: Context) -> None:
    notify(
        order_id=event.order_id,
        kind=Notification.Kind.SHIPPED,
        subject="Your order has shipped",
        text=(
            f"your order {event.order_id} is on its way. "
            f"Tracking number: {event.tracking_number}."
        ),
    )


@notifications.on(OrderCancelled, outside=True)
def on_order_cancelled(event: OrderCancelled, ctx: Context) -> None:
    reason = f": {event.reason}" if event.reason else ""
    notify(
        order_id=event.order_id,
        kind=Notification.Kind.CANCELLED,
        subject="Your order was cancelled",
        text=f"your order {event.order_id} was cancelled{reason}.",
    )


def notify(*, order_id: UUID, kind: str, subject: str, text: str) -> None:
    """Send the (order, kind) mail once; see the module docstring for the steps."""
    recipient = recipient_of(order_id=order_id)
    claim, created = Notification.objects.get_or_create(
        order_id=order_id,
        kind=kind,
        defaults={"status": Notification.Status.SENDING, "email": recipient.email},
    )
    if claim.status == Notification.Status.SENT:
        return
    if not created:
        logger.warning(
            "%s mail for order %s was interrupted after being claimed; sending again",
            kind,
            order_id,
        )
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].rstrip(">") or "localhost"
    body = f"Hello {recipient.name},\n\n{text}\n\nThe shop\n"
    mail = EmailMessage(
        subject=subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[recipient.email],
        headers={"Message-ID": f"<{kind}.{order_id}@{domain}>"},
    )
    try:
        mail.send()
    except Exception:
        claim.delete()  # release the claim: the retry sends it
        raise
    Notification.objects.filter(pk=claim.pk).update(
        status=Notification.Status.SENT, sent_at=timezone.now()
    )


def recipient_of(*, order_id: UUID) -> Recipient:
    """The customer to mail about ``order_id``; raises UnknownRecipientError."""
    order = OrderRecipient.objects.filter(order_id=order_id).first()
    if order is None:
        raise UnknownRecipientError(f"order {order_id} is not known yet (OrderPlaced)")
    recipient = Recipient.objects.filter(customer_id=order.customer_id).first()
    if recipient is None:
        raise UnknownRecipientError(
            f"customer {order.customer_id} of order {order_id} is not known yet "
            "(CustomerRegistered)"
        )
    return recipient
