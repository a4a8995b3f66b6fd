"""``GET /orders/{id}?until=settled&wait=s``: a storefront waits, bounded, for the
order's outcome (confirmed, rejected or cancelled) instead of polling, and learns
from the schema that it can."""

from __future__ import annotations

import pytest

from tests.support.storefront import (  # noqa: F401
    assert_problem,
    catalog_fixture,
    shopper_fixture,
    storefront_fixture,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def slow_provider(settings):
    """The payment provider answers after half a second: the order stays "placed"
    for at least that long after it is accepted."""
    settings.PAYMENT_PROVIDER_LATENCY_MS = 500


def place_and_settle(storefront, shopper, **body):
    order = storefront.order_body(("MUG", 1), **body)
    order_id = storefront.post("/orders", json=order, shopper=shopper).json()[
        "order_id"
    ]
    response = storefront.get(
        f"/orders/{order_id}",
        params={"until": "settled", "wait": 10},
        shopper=shopper,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_until_settled_answers_once_the_order_is_confirmed(
    storefront, catalog, shopper, slow_provider
):
    order = place_and_settle(storefront, shopper)
    assert (order["status"], order["payment_status"]) == ("confirmed", "paid")
    assert order["shipment"]["status"] == "created"


def test_until_settled_answers_once_the_order_is_rejected(
    storefront, catalog, shopper, slow_provider
):
    order = place_and_settle(
        storefront, shopper, payment_method="pm_card_chargeDeclined"
    )
    assert (order["status"], order["payment_status"]) == ("rejected", "declined")


def test_until_settled_answers_a_cancelled_order_at_once(storefront, catalog, shopper):
    order_id = storefront.place(shopper, ("MUG", 1)).json()["order_id"]
    storefront.post(f"/orders/{order_id}/cancel", shopper=shopper)
    response = storefront.get(
        f"/orders/{order_id}", params={"until": "settled", "wait": 10}, shopper=shopper
    )
    assert response.json()["status"] == "cancelled"


def test_a_wait_that_runs_out_answers_the_order_as_it_stands(
    storefront, catalog, shopper, settings
):
    # given a provider far slower than the wait
    settings.PAYMENT_PROVIDER_LATENCY_MS = 5000
    order_id = storefront.place(shopper, ("MUG", 1)).json()["order_id"]
    # when the storefront waits less than that for the outcome
    response = storefront.get(
        f"/orders/{order_id}", params={"until": "settled", "wait": 0.3}, shopper=shopper
    )
    # then it gets the order as it stands, still placed
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "placed"


@pytest.mark.parametrize(
    "params",
    [
        {"until": "settled"},  # waiting needs its bound
        {"until": "settled", "wait": 11},
        {"until": "settled", "as_of": "2026-01-01T00:00:00Z"},
        {"until": "paid", "wait": 1},
    ],
)
def test_until_needs_a_bounded_wait(storefront, catalog, shopper, params):
    order_id = storefront.place(shopper, ("MUG", 1)).json()["order_id"]
    response = storefront.get(f"/orders/{order_id}", params=params, shopper=shopper)
    assert_problem(response, 422)


def test_the_schema_documents_until(storefront):
    schema = storefront.get("/openapi.json").json()
    parameters = schema["paths"]["/api/v1/orders/{order_id}"]["get"]["parameters"]
    until = next(p for p in parameters if p["name"] == "until")
    assert until["in"] == "query"
    assert "settled" in str(until["schema"])
    assert "confirmed, rejected or cancelled" in until["description"]
