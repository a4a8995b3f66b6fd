"""Every error under /api/ is application/problem+json, including the ones Django or
ninja produce before any of our code runs, and no hostile body reaches a handler or
the database: each gets a 4xx, never a 5xx, and nothing is stored."""

from __future__ import annotations

import json
from unittest import mock

import pytest

from events.models import LogEntry
from tests.support.storefront import (  # noqa: F401
    Storefront,
    assert_problem,
    catalog_fixture,
    shopper_fixture,
    storefront_fixture,
)

pytestmark = pytest.mark.django_db(transaction=True)


def nothing_stored() -> bool:
    return not LogEntry.objects.filter(type="orders.OrderPlaced").exists()


def test_an_unknown_path_is_a_404_problem(storefront):
    problem = assert_problem(storefront.get("/nothing/here"), 404)
    assert problem["instance"] == "/api/v1/nothing/here"
    assert problem["type"] == "about:blank" and problem["title"] == "Not Found"


def test_a_wrong_method_is_a_405_problem_with_allow(storefront):
    response = storefront.call("PUT", "/products")
    assert_problem(response, 405)
    assert response.headers["Allow"] == "GET"


def test_a_missing_token_is_a_401_problem(storefront):
    response = storefront.get("/orders")
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"


def post_raw(storefront, shopper, body: bytes, content_type="application/json"):
    return storefront.post(
        "/orders", shopper=shopper, data=body, headers={"Content-Type": content_type}
    )


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"{", "not valid JSON"),
        (b'{"items": [}', "not valid JSON"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b'{"items": "\xc3\x28"}', "not valid UTF-8"),
        (b"[" * 30 + b"]" * 30, "nests deeper"),
        (b"[" * 20000 + b"]" * 20000, "nests"),
        (b'{"payment_method": "pm\\u0000card"}', "NUL"),
        (b'{"payment_method": "\\ud800"}', "surrogate"),
        (b'{"items": NaN}', "NaN"),
        (b'{"items": [{"sku": "MUG", "quantity": ' + b"9" * 5000 + b"}]}", "JSON"),
    ],
)
def test_malformed_bodies_are_400_problems(storefront, catalog, shopper, body, why):
    problem = assert_problem(post_raw(storefront, shopper, body), 400)
    assert why in problem["detail"]
    assert nothing_stored()


@pytest.mark.parametrize(
    ("duplicated", "twice"),
    [
        ('"quantity": 1', '"quantity": 5, "quantity": 1'),
        (
            '"payment_method": "pm_card_visa"',
            '"payment_method": "x", "payment_method": "pm_card_visa"',
        ),
        ('"city": "Paris"', '"city": "Paris", "city": "Lyon"'),
    ],
)
def test_duplicate_keys_are_400_problems(
    storefront, catalog, shopper, duplicated, twice
):
    # given a valid order in which one object has a key twice (which value was meant
    # is unknowable: a lenient parser silently keeps the last)
    text = json.dumps(storefront.order_body(("MUG", 1)))
    assert duplicated in text
    body = text.replace(duplicated, twice).encode()
    # when it is posted
    problem = assert_problem(post_raw(storefront, shopper, body), 400)
    # then the client is told which key, and nothing is stored
    assert problem["detail"] == (
        f"the body is not acceptable JSON: the key {twice.split(':')[0]} appears "
        "twice in one object"
    )
    assert nothing_stored()


@pytest.mark.parametrize("digits", [4301, 4500, 20000])
def test_a_number_with_thousands_of_digits_is_refused_in_our_words(
    storefront, catalog, shopper, digits
):
    body = b'{"items": [{"sku": "MUG", "quantity": ' + b"7" * digits + b"}]}"
    problem = assert_problem(post_raw(storefront, shopper, body), 400)
    assert problem["detail"] == (
        "the body is not acceptable JSON: a number has more than 4300 digits"
    )
    assert "sys." not in problem["detail"]
    assert nothing_stored()


def test_unbounded_integers_are_422_problems(storefront, catalog, shopper):
    body = storefront.order_body(("MUG", 1))
    body["items"][0]["quantity"] = 10**300
    response = post_raw(storefront, shopper, json.dumps(body).encode())
    assert_problem(response, 422)
    assert nothing_stored()


def test_an_oversized_body_is_a_413_problem(storefront, catalog, shopper, settings):
    body = storefront.order_body(("MUG", 1), payment_method="x" * 70_000)
    response = post_raw(storefront, shopper, json.dumps(body).encode())
    assert "at most 65536" in assert_problem(response, 413)["detail"]
    assert nothing_stored()


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", ""]
)
def test_a_body_that_is_not_json_is_a_415_problem(
    storefront, catalog, shopper, content_type
):
    body = json.dumps(storefront.order_body(("MUG", 1))).encode()
    response = post_raw(storefront, shopper, body, content_type=content_type)
    assert_problem(response, 415)
    assert nothing_stored()


def test_json_with_a_suffix_media_type_is_accepted(storefront, catalog, shopper):
    body = json.dumps(storefront.order_body(("MUG", 1))).encode()
    response = post_raw(storefront, shopper, body, "application/vnd.shop+json")
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    "path", ["/products/MUG%00", "/products?cursor=%00", "/orders?cursor=a%00"]
)
def test_nul_bytes_in_the_path_or_query_are_400_problems(storefront, shopper, path):
    assert_problem(storefront.get(path, shopper=shopper), 400)


def test_a_non_uuid_order_id_is_a_422_problem(storefront, shopper):
    response = storefront.get("/orders/not-a-uuid", shopper=shopper)
    assert assert_problem(response, 422)["errors"][0]["loc"] == ["path", "order_id"]


def test_a_server_error_is_a_500_problem_without_a_traceback(
    storefront, catalog, shopper
):
    with mock.patch(
        "orders.api.queries.customer_orders", side_effect=ZeroDivisionError("secret")
    ):
        response = storefront.get("/orders", shopper=shopper)
    problem = assert_problem(response, 500)
    assert "secret" not in response.text and "ZeroDivisionError" not in response.text
    assert problem["type"] == "about:blank"


def test_an_error_outside_ninja_is_a_problem_too(storefront, settings):
    # a Host not allowed is refused by Django before routing: still a problem
    response = storefront.get("/products", headers={"Host": "evil.example"})
    assert_problem(response, 400)


def test_errors_elsewhere_stay_django_pages(storefront):
    response = storefront.get(f"{storefront.root}/no-such-page")
    assert response.status_code == 404
    assert not response.headers["Content-Type"].startswith("application/problem")


def test_field_locations_name_the_fields_the_client_sent(storefront):
    # given a registration without its name
    response = storefront.post(
        "/customers", json={"email": "a@example.com", "password": "walrus-tandem-88"}
    )
    # then the location starts at the body, as the client sent it: never with the
    # name of the view's parameter that ninja reads the body into
    problem = assert_problem(response, 422)
    assert [e["loc"] for e in problem["errors"]] == [["body", "name"]]
