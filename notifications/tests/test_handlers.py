"""Order events delivered to the real ``notifications`` subscription: one mail per
(order, kind), whatever the redeliveries; a failing mail server only delays it.
Drains are called directly, so every step is deterministic. Runs on SQLite and, in
the PostgreSQL pass, on PostgreSQL."""

from uuid import uuid4

from django.conf import settings
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction

import pytest

from customers.contracts import CustomerRegistered, CustomerUpdated
from events.delivery.drain import drain
from events.delivery.subscriptions import registry
from events.log.outbox import publish
from events.log.partitions import partition_for
from events.models import Checkpoint, DeadLetter
from events.ops import replay
from notifications.models import Notification, OrderRecipient
from orders.contracts import (
    Address,
    OrderCancelled,
    OrderConfirmed,
    OrderLine,
    OrderPlaced,
    OrderRejected,
    OrderShipped,
)

pytestmark = pytest.mark.django_db(transaction=True)


class MailServerDown(BaseEmailBackend):
    """A mail server that refuses every connection."""

    def send_messages(self, email_messages):
        raise ConnectionRefusedError("mail server is down")


FAILING_BACKEND = f"{__name__}.MailServerDown"


@pytest.fixture
def notifications():
    return registry.get("notifications")


def deliver(subscription, *events):
    """Publish ``events`` in one transaction, then drain their partitions."""
    with transaction.atomic():
        items = publish(*events)
    for partition in sorted({item.partition for item in items}):
        drain(subscription, partition)
    return items


def drain_everything(subscription):
    for partition in range(settings.EVENTS_PARTITIONS):
        drain(subscription, partition)


def placed(*, order_id, customer_id):
    return OrderPlaced(
        order_id=order_id,
        customer_id=customer_id,
        lines=(OrderLine(sku="SKU-1", quantity=1, unit_price="9.50", currency="EUR"),),
        shipping_address=Address(
            name="Ada",
            line1="1 Main St",
            city="Paris",
            postal_code="75001",
            country="FR",
        ),
        payment_method="card",
    )


@pytest.fixture
def order(notifications):
    """An order placed by a registered customer, known to the notifications views."""
    customer_id, order_id = uuid4(), uuid4()
    deliver(
        notifications,
        CustomerRegistered(
            customer_id=customer_id, email="ada@example.com", name="Ada Lovelace"
        ),
        placed(order_id=order_id, customer_id=customer_id),
    )
    return order_id


@pytest.mark.parametrize(
    ("make", "subject", "detail"),
    [
        (lambda o: OrderConfirmed(order_id=o), "Your order is confirmed", "confirmed"),
        (
            lambda o: OrderRejected(order_id=o, reason="payment declined"),
            "We could not accept your order",
            "payment declined",
        ),
        (
            lambda o: OrderShipped(order_id=o, tracking_number="TRK123"),
            "Your order has shipped",
            "Tracking number: TRK123",
        ),
        (
            lambda o: OrderCancelled(order_id=o, reason="changed my mind"),
            "Your order was cancelled",
            "changed my mind",
        ),
    ],
)
def test_each_order_event_mails_the_customer_once(
    notifications, order, make, subject, detail
):
    # when
    deliver(notifications, make(order))
    # then
    (sent,) = mail.outbox
    assert sent.to == ["ada@example.com"]
    assert sent.subject == subject
    assert "Hello Ada Lovelace" in sent.body
    assert str(order) in sent.body and detail in sent.body
    assert Notification.objects.get(order_id=order).status == "sent"


def test_a_customer_update_changes_where_mails_go(notifications, order):
    # given the customer changed their email
    customer_id = OrderRecipient.objects.get(order_id=order).customer_id
    deliver(
        notifications,
        CustomerUpdated(
            customer_id=customer_id, email="ada@new.example", name="Ada", is_active=True
        ),
    )
    # when
    deliver(notifications, OrderConfirmed(order_id=order))
    # then
    assert [m.to for m in mail.outbox] == [["ada@new.example"]]


def test_redelivered_events_send_no_second_mail(notifications, order):
    # given every kind of mail sent once
    deliver(
        notifications,
        OrderConfirmed(order_id=order),
        OrderShipped(order_id=order, tracking_number="TRK1"),
    )
    assert len(mail.outbox) == 2
    # when the subscription is replayed from the first offset
    replay.seek(notifications, to_offset=1)
    drain_everything(notifications)
    # then no mail goes out again
    assert len(mail.outbox) == 2
    assert Notification.objects.filter(status="sent").count() == 2


def test_a_failing_mail_server_delays_the_mail_which_then_goes_out_once(
    notifications, order, settings
):
    # given the mail server is down
    settings.EMAIL_BACKEND = FAILING_BACKEND
    (item,) = deliver(notifications, OrderConfirmed(order_id=order))
    # then the checkpoint retries the message and the claim is released
    checkpoint = Checkpoint.objects.get(
        subscription="notifications", partition=item.partition
    )
    assert checkpoint.attempts == 1 and checkpoint.retry_at is not None
    assert "ConnectionRefusedError: mail server is down" in checkpoint.last_error
    assert not Notification.objects.exists() and not mail.outbox
    # when it is back and the retry is due
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    Checkpoint.objects.update(retry_at=None)
    drain(notifications, item.partition)
    # then the mail goes out once, and a redelivery changes nothing
    assert len(mail.outbox) == 1
    checkpoint.refresh_from_db()
    assert checkpoint.attempts == 0 and checkpoint.position >= item.offset
    replay.seek(notifications, to_offset=1)
    drain_everything(notifications)
    assert len(mail.outbox) == 1


def test_a_mail_server_down_for_good_ends_in_the_dead_letters(
    notifications, order, settings
):
    # given the mail server stays down
    settings.EMAIL_BACKEND = FAILING_BACKEND
    (item,) = deliver(notifications, OrderCancelled(order_id=order, reason="late"))
    # when every retry falls due
    for _ in range(notifications.max_attempts - 1):
        Checkpoint.objects.update(retry_at=None)
        drain(notifications, item.partition)
    # then the message is parked with its error and nothing was sent or kept claimed
    letter = DeadLetter.objects.get(subscription="notifications")
    assert letter.message_id == item.message_id
    assert letter.attempts == notifications.max_attempts
    assert "mail server is down" in letter.error
    assert not mail.outbox and not Notification.objects.exists()


def test_a_customer_unknown_to_the_view_is_retried_until_it_is_known(notifications):
    # given an order whose customer the directory has not seen yet
    order_id = uuid4()
    customer_id = next(  # on another partition, so it is not held behind the order
        c
        for c in iter(uuid4, None)
        if partition_for(str(c)) != partition_for(str(order_id))
    )
    deliver(notifications, placed(order_id=order_id, customer_id=customer_id))
    # when its confirmation arrives
    (item,) = deliver(notifications, OrderConfirmed(order_id=order_id))
    # then it is retried with a clear error
    checkpoint = Checkpoint.objects.get(
        subscription="notifications", partition=item.partition
    )
    assert "UnknownRecipientError" in checkpoint.last_error
    assert f"customer {customer_id} of order {order_id}" in checkpoint.last_error
    assert not mail.outbox
    # when the customer's registration is handled and the retry falls due
    deliver(
        notifications,
        CustomerRegistered(customer_id=customer_id, email="bo@example.com", name="Bo"),
    )
    Checkpoint.objects.update(retry_at=None)
    drain(notifications, item.partition)
    # then the mail goes out
    assert [m.to for m in mail.outbox] == [["bo@example.com"]]


def test_an_interrupted_send_is_sent_again(notifications, order):
    # given a crash after the claim, before the mail was marked sent
    Notification.objects.create(
        order_id=order, kind="confirmed", status="sending", email="ada@example.com"
    )
    # when the event is delivered
    deliver(notifications, OrderConfirmed(order_id=order))
    # then the mail is sent (at least once in that window) and marked sent
    assert len(mail.outbox) == 1
    assert Notification.objects.get(order_id=order).status == "sent"
