"""ChargePayment and RefundPayment delivered to the real ``payments`` subscription:
answers, retries then dead letters, and no second charge or refund on redelivery or
replay (counted in the fake provider's own books). Drains are called directly, so
every step is deterministic. Runs on SQLite and, in the PostgreSQL pass, PostgreSQL."""

from decimal import Decimal
from uuid import uuid4

from django.db import transaction
from django.test import override_settings

import pytest

from events.delivery.drain import drain
from events.delivery.subscriptions import registry
from events.log.outbox import publish
from events.models import Checkpoint, DeadLetter, LogEntry
from events.ops import replay
from payments.contracts import ChargePayment, RefundPayment
from payments.models import FakeProviderCharge, FakeProviderRefund, Payment

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def payments():
    return registry.get("payments")


def send(subscription, command):
    """Publish ``command`` in its own transaction, then deliver its partition."""
    with transaction.atomic():
        (item,) = publish(command)
    drain(subscription, item.partition)
    return item


def charge(order_id, method="pm_card_visa"):
    return ChargePayment(
        order_id=order_id,
        amount=Decimal("25.50"),
        currency="EUR",
        payment_method=method,
    )


def answers(order_id):
    """(type, payload) of what payments published about ``order_id``, in order."""
    rows = LogEntry.objects.filter(key=str(order_id), type__startswith="payments.")
    rows = rows.exclude(
        type__in=["payments.ChargePayment", "payments.RefundPayment"]
    ).order_by("id")
    return [(r.type.removeprefix("payments."), r.payload) for r in rows]


def test_a_charge_succeeds_and_is_recorded(payments):
    order = uuid4()
    # when
    send(payments, charge(order))
    # then
    ((name, payload),) = answers(order)
    reference = FakeProviderCharge.objects.get().reference
    assert name == "PaymentSucceeded"
    assert payload["payment_reference"] == reference
    assert Decimal(payload["amount"]) == Decimal("25.50")
    payment = Payment.objects.get(order_id=order)
    assert (payment.status, payment.charge_reference) == ("succeeded", reference)


def test_a_declined_card_answers_payment_declined(payments):
    order = uuid4()
    send(payments, charge(order, "pm_card_chargeDeclined"))
    assert answers(order) == [
        (
            "PaymentDeclined",
            {
                "order_id": str(order),
                "reason": "the card was declined",
                "code": "card_declined",
            },
        )
    ]
    assert Payment.objects.get(order_id=order).status == "declined"


def test_a_provider_error_is_retried_then_dead_lettered(payments):
    # given a provider that fails every time
    order = uuid4()
    item = send(payments, charge(order, "pm_card_error"))
    # when every retry comes due
    for _ in range(payments.max_attempts - 1):
        assert Checkpoint.objects.get(partition=item.partition).retry_at is not None
        Checkpoint.objects.update(retry_at=None)
        drain(payments, item.partition)
    # then the command is parked, nothing was charged and nothing answered
    letter = DeadLetter.objects.get()
    assert letter.attempts == payments.max_attempts
    assert "ProviderUnavailable" in letter.error
    assert answers(order) == []
    assert not FakeProviderCharge.objects.exists()


def test_a_timed_out_charge_is_retried_with_its_key_and_charged_once(payments):
    # given a provider slower than the client timeout: it charges, the client gives up
    order = uuid4()
    with override_settings(
        PAYMENT_PROVIDER_LATENCY_MS=20, PAYMENT_PROVIDER_TIMEOUT_MS=1
    ):
        item = send(payments, charge(order))
    assert answers(order) == [] and FakeProviderCharge.objects.count() == 1
    # when the retry comes due
    Checkpoint.objects.update(retry_at=None)
    drain(payments, item.partition)
    # then it gets the first charge back
    ((name, payload),) = answers(order)
    assert payload["payment_reference"] == FakeProviderCharge.objects.get().reference
    assert name == "PaymentSucceeded"


def test_a_replayed_charge_never_charges_twice(payments):
    order = uuid4()
    item = send(payments, charge(order))
    # when replayed after the payment was recorded
    replay.seek(payments, to_offset=item.offset, partitions=[item.partition])
    drain(payments, item.partition)
    # and replayed again as if the worker died after the provider call, before the
    # payment row was written: the provider sees the same key
    Payment.objects.all().delete()
    replay.seek(payments, to_offset=item.offset, partitions=[item.partition])
    drain(payments, item.partition)
    # then there is one charge, answered three times with the same reference
    reference = FakeProviderCharge.objects.get().reference
    refs = [payload["payment_reference"] for _, payload in answers(order)]
    assert refs == [reference] * 3


def test_a_second_charge_command_for_a_charged_order_charges_nothing(payments):
    order = uuid4()
    send(payments, charge(order))
    send(payments, charge(order))
    assert [name for name, _ in answers(order)] == ["PaymentSucceeded"] * 2
    assert FakeProviderCharge.objects.count() == 1


def test_a_refund_gives_the_charge_back_once(payments):
    order = uuid4()
    send(payments, charge(order))
    # when refunded by two commands (and the first replayed)
    item = send(payments, RefundPayment(order_id=order))
    send(payments, RefundPayment(order_id=order))
    replay.seek(payments, to_offset=item.offset, partitions=[item.partition])
    drain(payments, item.partition)
    # then
    refund = FakeProviderRefund.objects.get()
    refunds = [p for name, p in answers(order) if name == "PaymentRefunded"]
    assert len(refunds) == 4  # the refund twice, then both replayed
    assert {p["refund_reference"] for p in refunds} == {refund.reference}
    assert {Decimal(p["amount"]) for p in refunds} == {Decimal("25.50")}
    assert Payment.objects.get(order_id=order).status == "refunded"


def test_refunding_an_order_never_charged_answers_a_zero_refund(payments):
    order = uuid4()
    send(payments, RefundPayment(order_id=order))
    ((name, payload),) = answers(order)
    assert name == "PaymentRefunded" and Decimal(payload["amount"]) == 0
    assert payload["payment_reference"] == ""
    assert not FakeProviderRefund.objects.exists()
