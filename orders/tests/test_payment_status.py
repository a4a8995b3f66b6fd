"""An order says what happened to its payment, over HTTP, in the read model and as of
a past time alike: "pending" until an answer, then "paid", "declined" (the provider
refused the card), "failed" (the provider never answered: errors past every retry, or
no answer by the step's deadline) or "refunded"."""

from __future__ import annotations

import pytest

from events.delivery.subscriptions import registry
from events.models import DeadLetter
from processes.waiting import wait_until
from tests.support.storefront import (  # noqa: F401
    Shopper,
    Storefront,
    catalog_fixture,
    shopper_fixture,
    storefront_fixture,
)

pytestmark = pytest.mark.django_db(transaction=True)


def read_until(storefront: Storefront, shopper: Shopper, order_id: str, done) -> dict:
    """The order (from the read model) once ``done(order)`` holds; bounded poll."""
    last: dict[str, dict] = {}

    def read() -> dict | None:
        order = storefront.get(f"/orders/{order_id}?wait=1", shopper=shopper).json()
        last["order"] = order
        return order if done(order) else None

    return wait_until(
        read, f"order {order_id} to be done", explain=lambda: f"it is {last['order']}"
    )


def as_of(storefront: Storefront, shopper: Shopper, order_id: str, when: str) -> dict:
    then = storefront.get(
        f"/orders/{order_id}", params={"as_of": when}, shopper=shopper
    )
    assert then.status_code == 200, then.text
    return then.json()


def test_a_declined_card_reads_declined_now_and_as_of_then(
    storefront, catalog, shopper
):
    # given an order paid with a card the provider declines
    body = storefront.order_body(("MUG", 1), payment_method="pm_card_chargeDeclined")
    order_id = storefront.post("/orders", json=body, shopper=shopper).json()["order_id"]
    # when the fulfilment has rejected it
    order = read_until(
        storefront, shopper, order_id, lambda o: o["status"] == "rejected"
    )
    # then the read model says the payment was declined, not that it is pending
    assert order["payment_status"] == "declined"
    # and so does the order as it stood at its last event
    assert as_of(storefront, shopper, order_id, order["updated_at"]) == order
    history = storefront.get(f"/orders/{order_id}/events", shopper=shopper).json()
    declined = next(e for e in history if e["type"] == "orders.OrderPaymentDeclined")
    assert declined["data"]["reason"] == "the card was declined"
    before = history[declined["version"] - 2]["recorded_at"]
    assert as_of(storefront, shopper, order_id, before)["payment_status"] == "pending"
    at = as_of(storefront, shopper, order_id, declined["recorded_at"])
    assert at["payment_status"] == "declined"


def test_a_provider_that_never_answers_reads_failed(
    storefront, catalog, shopper, monkeypatch
):
    # given a provider that errors on every try (the charge is dead-lettered at once)
    monkeypatch.setattr(registry.get("payments"), "max_attempts", 1)
    body = storefront.order_body(("MUG", 1), payment_method="pm_card_error")
    order_id = storefront.post("/orders", json=body, shopper=shopper).json()["order_id"]
    wait_until(
        DeadLetter.objects.filter(type="payments.ChargePayment").exists,
        "the charge to be dead-lettered",
    )
    # when the fulfilment hears of it (a parked command fails its step at once, long
    # before the step's 5-minute deadline)
    # then the order reads rejected with its payment failed, now and as of then
    order = read_until(
        storefront,
        shopper,
        order_id,
        lambda o: o["status"] == "rejected" and o["payment_status"] != "pending",
    )
    assert order["payment_status"] == "failed"
    assert as_of(storefront, shopper, order_id, order["updated_at"]) == order


def test_a_cancelled_paid_order_reads_refunded(storefront, catalog, shopper):
    order_id = storefront.place(shopper, ("MUG", 1)).json()["order_id"]
    read_until(storefront, shopper, order_id, lambda o: o["payment_status"] == "paid")
    storefront.post(f"/orders/{order_id}/cancel", shopper=shopper)
    order = read_until(
        storefront, shopper, order_id, lambda o: o["payment_status"] == "refunded"
    )
    assert order["status"] == "cancelled"
    assert as_of(storefront, shopper, order_id, order["updated_at"]) == order
