"""Correlation ids: taken from X-Correlation-ID (a UUID) or generated, echoed on
every response (errors too), and carried into every event the request causes."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from events.models import LogEntry
from tests.support.storefront import Storefront, storefront_fixture  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_given_correlation_id_is_echoed_and_carried_into_the_events(storefront):
    correlation = uuid4()
    response = storefront.post(
        "/customers",
        json={"email": "ann@example.com", "name": "Ann", "password": "long enough"},
        headers={"X-Correlation-ID": str(correlation)},
    )
    assert response.status_code == 201
    assert response.headers["X-Correlation-ID"] == str(correlation)
    event = LogEntry.objects.get(type="customers.CustomerRegistered")
    assert event.correlation_id == correlation


def test_without_one_each_request_gets_a_fresh_one(storefront):
    first = storefront.get("/products").headers["X-Correlation-ID"]
    second = storefront.get("/products").headers["X-Correlation-ID"]
    assert UUID(first) != UUID(second)


@pytest.mark.parametrize("given", ["not-a-uuid", "x" * 100])
def test_an_id_that_is_not_a_uuid_is_replaced(storefront, given):
    response = storefront.get("/products", headers={"X-Correlation-ID": given})
    assert UUID(response.headers["X-Correlation-ID"])


def test_error_responses_carry_it_in_header_and_body(storefront):
    correlation = str(uuid4())
    response = storefront.get("/nowhere", headers={"X-Correlation-ID": correlation})
    assert response.status_code == 404
    assert response.headers["X-Correlation-ID"] == correlation
    assert response.json()["correlation_id"] == correlation
