"""What a customer and staff see of an order's outcome, through the public surfaces
(the storefront API over real HTTP, the admin, the mail): the shipment goes to the
order's address, and a payment service that fails rejects the order at once, in
words, with its stock back. In-process dispatcher; SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client

import pytest

from events.delivery.retries import Backoff
from events.delivery.subscriptions import registry
from events.models import DeadLetter, SagaInstance
from processes.waiting import wait_until
from tests.support.storefront import (  # noqa: F401  (fixtures)
    ADDRESS,
    Storefront,
    catalog_fixture,
    shopper_fixture,
    storefront_fixture,
)

pytestmark = pytest.mark.django_db(transaction=True)


def settle(storefront: Storefront, shopper, order_id: str) -> dict:
    """The order once it is confirmed, rejected or cancelled (bounded wait)."""
    order = storefront.get(
        f"/orders/{order_id}?until=settled&wait=10", shopper=shopper
    ).json()
    assert order["status"] in {"confirmed", "rejected", "cancelled"}, order
    return order


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(
        get_user_model().objects.create_superuser("staff", "s@example.com", "pw")
    )
    return client


def test_the_shipment_goes_to_the_address_the_customer_gave(
    storefront, catalog, shopper, staff
):
    # given an order placed over HTTP with an address
    placed = storefront.place(shopper, ("MUG", 1))
    assert placed.status_code == 202, placed.text
    order = settle(storefront, shopper, placed.json()["order_id"])
    assert order["status"] == "confirmed"
    # when staff open its shipment in the admin
    tracking = order["shipment"]["tracking_number"]
    listing = staff.get("/admin/shipping/shipment/", {"q": tracking})
    assert listing.status_code == 200
    (row_id,) = listing.context["cl"].result_list.values_list("id", flat=True)
    page = staff.get(f"/admin/shipping/shipment/{row_id}/change/").content.decode()
    # then it carries every line of the address (it used to be empty)
    for value in (ADDRESS["name"], ADDRESS["line1"], ADDRESS["city"]):
        assert value in page
    assert ADDRESS["postal_code"] in page and ADDRESS["country"] in page


@pytest.fixture
def quick_payment_retries(monkeypatch):
    """The payment service's retries, short (the test waits for them, not the 5 min
    deadline they used to wait for)."""
    payments = registry.get("payments")
    monkeypatch.setattr(
        payments,
        "backoff",
        Backoff(base=timedelta(milliseconds=20), cap=timedelta(milliseconds=50)),
    )


def test_a_failing_payment_service_rejects_the_order_at_once_in_words(
    storefront, catalog, shopper, quick_payment_retries
):
    # given an order whose card makes the provider fail on every try
    body = storefront.order_body(("MUG", 3), payment_method="pm_card_error")
    placed = storefront.post("/orders", shopper=shopper, json=body)
    assert placed.status_code == 202, placed.text
    # when its charge is parked after its retries (seconds, not the step's 5 minutes)
    order = settle(storefront, shopper, placed.json()["order_id"])
    # then it is rejected with a sentence and a code, and nothing was taken
    assert order["status"] == "rejected"
    assert order["reason"] == "the payment service failed and could not finish"
    assert order["reason_code"] == "charge_payment_failed"
    assert order["payment_status"] == "failed"
    # and its stock is available again
    product = storefront.get("/products/MUG").json()
    assert product["available"] == catalog["MUG"]
    # and the customer's mail says it in words, with no type name
    (rejected,) = [m for m in mail.outbox if "could not accept" in m.body]
    assert "the payment service failed and could not finish" in rejected.body
    assert "ChargePayment" not in rejected.body


def test_a_refund_that_fails_after_a_cancellation_asks_for_a_person_at_once(
    storefront, catalog, shopper, quick_payment_retries, settings, monkeypatch
):
    # given a confirmed, paid order
    placed = storefront.place(shopper, ("MUG", 1))
    order_id = placed.json()["order_id"]
    assert settle(storefront, shopper, order_id)["payment_status"] == "paid"
    # and a provider that now times out on every call, the refund's retries short
    settings.PAYMENT_PROVIDER_LATENCY_MS, settings.PAYMENT_PROVIDER_TIMEOUT_MS = 300, 50
    monkeypatch.setattr(registry.get("payments"), "max_attempts", 1)
    # when the customer cancels it (a request of its own: its own correlation id)
    cancelled = storefront.post(f"/orders/{order_id}/cancel", shopper=shopper)
    assert cancelled.status_code == 202, cancelled.text
    # then the parked refund is the undo's answer: the saga needs a person now, not
    # at the undo's 5-minute deadline
    saga = wait_until(
        lambda: SagaInstance.objects.filter(
            key=order_id, status="needs_attention"
        ).first(),
        "the saga to ask for a person",
        timeout=30,
    )
    assert saga.reason_code == "charge_payment_undo_failed"
    assert DeadLetter.objects.filter(type="payments.RefundPayment").exists()
