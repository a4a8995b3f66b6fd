"""The orders API through real HTTP: placing, reading (now, as of a time, waiting for
the read model), listing, history, cancelling, and the Idempotency-Key edges."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock
from uuid import UUID, uuid4

from django.core.management import call_command
from django.utils import timezone
from django.utils.dateparse import parse_datetime

import pytest

from events.commands import idempotency
from events.models import IdempotencyKey, LogEntry
from orders.models import AvailabilityView
from processes.waiting import wait_until
from tests.support.storefront import (  # noqa: F401
    Shopper,
    Storefront,
    assert_problem,
    catalog_fixture,
    delivered,
    other_shopper_fixture,
    shopper_fixture,
    storefront_fixture,
)

pytestmark = pytest.mark.django_db(transaction=True)


def settled(storefront: Storefront, shopper: Shopper, order_id: str) -> dict:
    """The order once the fulfilment saga has confirmed or rejected it (polled, as in
    tests/flows: the saga's next message is not known in advance)."""
    last: dict[str, dict] = {}

    def read() -> dict | None:
        order = storefront.get(f"/orders/{order_id}?wait=1", shopper=shopper).json()
        last["order"] = order
        return order if order["status"] in {"confirmed", "rejected"} else None

    return wait_until(
        read, f"order {order_id} to settle", explain=lambda: f"it is {last['order']}"
    )


# --- placing and reading ----------------------------------------------------------


def test_placing_an_order_answers_202_with_its_location_and_prices(
    storefront, catalog, shopper
):
    response = storefront.place(shopper, ("MUG", 2), ("POSTER", 1))
    assert response.status_code == 202, response.text
    body = response.json()
    order_id = UUID(body["order_id"])
    assert body == {
        "order_id": str(order_id),
        "status": "placed",
        "items": [
            {"sku": "MUG", "quantity": 2, "unit_price": "9.50"},
            {"sku": "POSTER", "quantity": 1, "unit_price": "120.00"},
        ],
        "total": "139.00",
        "currency": "EUR",
        "version": 1,
    }
    assert response.headers["Location"] == f"/api/v1/orders/{order_id}"
    assert "Idempotent-Replayed" not in response.headers


def test_read_your_writes_with_wait_answers_from_the_caught_up_read_model(
    storefront, catalog, shopper
):
    placed = storefront.place(shopper, ("MUG", 1))
    location = placed.headers["Location"]
    # the event store is not consulted: the answer must come from the read model
    with mock.patch("orders.api.order_as_of", side_effect=AssertionError("stale")):
        order = storefront.get(f"{storefront.root}{location}?wait=5", shopper=shopper)
    assert order.status_code == 200, order.text
    body = order.json()
    assert body["order_id"] == placed.json()["order_id"]
    assert body["version"] >= 1 and body["status"] in {"placed", "confirmed"}
    assert body["items"] == [{"sku": "MUG", "quantity": 1, "unit_price": "9.50"}]
    assert (body["total"], body["currency"]) == ("9.50", "EUR")
    # the journey goes on meanwhile: the view is at least at the write, maybe past it,
    # and the order learns its shipment with its confirmation
    if body["status"] == "placed":
        assert body["shipment"] == {"status": "none", "tracking_number": None}
    else:
        assert body["shipment"]["status"] == "created"
        assert body["shipment"]["tracking_number"]


def test_a_wait_that_times_out_answers_from_the_event_store(
    storefront, catalog, shopper
):
    from events.delivery.waiting import WaitTimeout

    order_id = storefront.place(shopper, ("MUG", 1)).json()["order_id"]
    with (
        mock.patch("orders.queries.wait_for_messages", side_effect=WaitTimeout("slow")),
        mock.patch("orders.api.queries.order_summary", side_effect=AssertionError),
    ):
        order = storefront.get(f"/orders/{order_id}?wait=0.1", shopper=shopper)
    # the stale view is not read: the order is folded from its events
    assert order.status_code == 200, order.text
    assert order.json()["order_id"] == order_id and order.json()["version"] >= 1


def test_an_order_is_readable_at_once_even_before_the_view_has_it(
    storefront, catalog, shopper
):
    # given a read model that has not caught up with the order yet
    with mock.patch("orders.queries.order_summary", return_value=None):
        placed = storefront.place(shopper, ("MUG", 1))
        order = storefront.get(
            f"{storefront.root}{placed.headers['Location']}", shopper=shopper
        )
    # then the answer comes from the event store, in the same shape
    assert order.status_code == 200, order.text
    body = order.json()
    assert body["order_id"] == placed.json()["order_id"] and body["version"] >= 1
    assert body["status"] in {"placed", "confirmed"}  # the saga runs meanwhile
    assert body["items"] == [{"sku": "MUG", "quantity": 1, "unit_price": "9.50"}]
    assert body["shipment"] == {"status": "none", "tracking_number": None}


def test_the_order_as_it_stood_at_a_past_time(storefront, catalog, shopper):
    before = timezone.now() - timedelta(seconds=1)
    order_id = storefront.place(shopper, ("MUG", 1)).json()["order_id"]
    placed_at = LogEntry.objects.get(stream=f"order-{order_id}", stream_version=1)
    cancelled = storefront.post(f"/orders/{order_id}/cancel", shopper=shopper)
    assert cancelled.status_code == 202

    then = storefront.get(
        f"/orders/{order_id}",
        params={"as_of": placed_at.recorded_at.isoformat()},
        shopper=shopper,
    )
    assert then.status_code == 200, then.text
    assert (then.json()["status"], then.json()["version"]) == ("placed", 1)
    now = storefront.get(f"/orders/{order_id}?wait=5", shopper=shopper).json()
    assert now["status"] == "cancelled"
    assert now["reason"] == "cancelled by the customer"
    too_early = storefront.get(
        f"/orders/{order_id}", params={"as_of": before.isoformat()}, shopper=shopper
    )
    assert_problem(too_early, 404)


def test_every_time_the_api_gives_is_an_as_of_that_finds_the_order(
    storefront, catalog, shopper
):
    # given an order that went on after it was placed (paid, confirmed: settled)
    order_id = storefront.place(shopper, ("MUG", 1)).json()["order_id"]
    order = settled(storefront, shopper, order_id)
    history = storefront.get(f"/orders/{order_id}/events", shopper=shopper).json()
    assert len(history) > 1
    # then each time is given at the store's full precision (microseconds)
    stored = {
        row.stream_version: row.recorded_at
        for row in LogEntry.objects.filter(stream=f"order-{order_id}")
    }
    assert {e["version"]: parse_datetime(e["recorded_at"]) for e in history} == stored
    assert parse_datetime(order["created_at"]) == stored[1]
    # every row of a stream has its stream_version
    assert parse_datetime(order["updated_at"]) == stored[max(stored)]  # type: ignore[type-var]
    # and handed back as as_of, each one finds the order as it stood at that event
    for event in history:
        then = storefront.get(
            f"/orders/{order_id}",
            params={"as_of": event["recorded_at"]},
            shopper=shopper,
        )
        assert then.status_code == 200, (event, then.text)
        assert then.json()["version"] == event["version"]
    for when in (order["created_at"], order["updated_at"]):
        then = storefront.get(
            f"/orders/{order_id}", params={"as_of": when}, shopper=shopper
        )
        assert then.status_code == 200, (when, then.text)
        assert parse_datetime(then.json()["updated_at"]) == parse_datetime(when)


def test_as_of_and_wait_cannot_be_combined(storefront, catalog, shopper):
    order_id = storefront.place(shopper, ("MUG", 1)).json()["order_id"]
    response = storefront.get(
        f"/orders/{order_id}",
        params={"as_of": timezone.now().isoformat(), "wait": 1},
        shopper=shopper,
    )
    assert assert_problem(response, 422)["errors"][0]["loc"] == ["query", "wait"]


@pytest.mark.parametrize(
    ("as_of", "status"),
    [
        ("0001-01-01T00:00:00+14:00", 422),
        ("9999-12-31T23:59:59-14:00", 422),
        ("yesterday", 422),
        ("0001-01-01T00:00:00Z", 404),
        ("2001-01-01T00:00:00", 404),
    ],
)
def test_as_of_times_out_of_range_or_before_the_order(
    storefront, catalog, shopper, as_of, status
):
    order_id = storefront.place(shopper, ("MUG", 1)).json()["order_id"]
    response = storefront.get(
        f"/orders/{order_id}", params={"as_of": as_of}, shopper=shopper
    )
    assert_problem(response, status)


@pytest.mark.parametrize("wait", ["0", "11", "nan", "inf", "1e308", "soon"])
def test_wait_is_bounded(storefront, catalog, shopper, wait):
    order_id = storefront.place(shopper, ("MUG", 1)).json()["order_id"]
    response = storefront.get(f"/orders/{order_id}?wait={wait}", shopper=shopper)
    assert_problem(response, 422)


def test_the_history_lists_the_orders_events(storefront, catalog, shopper):
    order_id = storefront.place(shopper, ("MUG", 1)).json()["order_id"]
    storefront.post(f"/orders/{order_id}/cancel", shopper=shopper)
    history = storefront.get(f"/orders/{order_id}/events", shopper=shopper)
    assert history.status_code == 200, history.text
    events = history.json()
    assert [(e["type"], e["version"]) for e in events][:1] == [
        ("orders.OrderPlaced", 1)
    ]
    # (a payment whose charge was in flight may be recorded after the cancellation)
    assert "orders.OrderCancelled" in [e["type"] for e in events]
    assert events[0]["data"]["order_id"] == order_id
    assert {"type", "version", "recorded_at", "data"} == set(events[0])


def test_the_list_shows_the_callers_orders_newest_first_in_pages(
    storefront, catalog, shopper, other_shopper
):
    mine = [storefront.place(shopper, ("MUG", 1)).json()["order_id"] for _ in range(3)]
    storefront.place(other_shopper, ("MUG", 1))
    for order_id in mine:
        storefront.get(f"/orders/{order_id}?wait=5", shopper=shopper)

    first = storefront.get("/orders?page_size=2", shopper=shopper).json()
    second = storefront.get(
        "/orders",
        params={"page_size": 2, "cursor": first["next_cursor"]},
        shopper=shopper,
    ).json()
    listed = [o["order_id"] for o in first["items"] + second["items"]]
    assert listed == list(reversed(mine))
    assert second["next_cursor"] is None
    assert first["items"][0]["items"] == [
        {"sku": "MUG", "quantity": 1, "unit_price": "9.50"}
    ]


@pytest.mark.parametrize("cursor", ["%%%", "bm90IGEgY3Vyc29y", "A" * 201])
def test_a_cursor_we_did_not_make_is_a_422(storefront, shopper, cursor):
    response = storefront.get("/orders", params={"cursor": cursor}, shopper=shopper)
    assert assert_problem(response, 422)["errors"][0]["loc"] == ["query", "cursor"]


# --- refusals -------------------------------------------------------------------


def test_out_of_stock_by_the_availability_view_is_a_409_with_the_shortages(
    storefront, catalog, shopper
):
    response = storefront.place(shopper, ("POSTER", 2))
    problem = assert_problem(response, 409)
    assert problem["type"].endswith("out-of-stock")
    assert problem["shortages"] == [{"sku": "POSTER", "wanted": 2, "available": 1}]
    assert not LogEntry.objects.filter(type="orders.OrderPlaced").exists()


def test_an_unknown_product_is_a_422(storefront, catalog, shopper):
    problem = assert_problem(storefront.place(shopper, ("NOPE", 1)), 422)
    assert "NOPE" in problem["detail"]


@pytest.mark.parametrize("quantity", [0, -1, 101, 10**40, 1.5, "many", None])
def test_quantities_are_bounded(storefront, catalog, shopper, quantity):
    body = storefront.order_body(("MUG", 1))
    body["items"][0]["quantity"] = quantity
    response = storefront.post("/orders", json=body, shopper=shopper)
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["body", "items", 0, "quantity"]


@pytest.mark.parametrize("quantity", ["3", True, False, 3.0, "1e1"])
def test_quantities_are_json_numbers_not_strings_or_booleans(
    storefront, catalog, shopper, quantity
):
    # given a quantity that only a lenient parser would read as a number
    body = storefront.order_body(("MUG", 1))
    body["items"][0]["quantity"] = quantity
    # when it is ordered
    response = storefront.post("/orders", json=body, shopper=shopper)
    # then it is refused, naming the field, and nothing is ordered
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["body", "items", 0, "quantity"]
    assert not LogEntry.objects.filter(type="orders.OrderPlaced").exists()


def test_an_address_needs_its_details(storefront, catalog, shopper):
    body = storefront.order_body(("MUG", 1))
    body["shipping_address"] = {**body["shipping_address"], "city": "  "}
    del body["shipping_address"]["country"]
    problem = assert_problem(
        storefront.post("/orders", json=body, shopper=shopper), 422
    )
    assert {tuple(e["loc"][-2:]) for e in problem["errors"]} == {
        ("shipping_address", "city"),
        ("shipping_address", "country"),
    }


def test_a_customer_the_orders_view_does_not_know_yet_is_told_to_retry(
    storefront, catalog, shopper
):
    from orders.models import CustomerView

    CustomerView.objects.filter(customer_id=shopper.customer_id).delete()
    response = storefront.place(shopper, ("MUG", 1))
    assert assert_problem(response, 409)["type"].endswith("customer-not-ready")
    assert response.headers["Retry-After"] == "1"


def test_orders_need_a_token(storefront, catalog):
    response = storefront.post("/orders", json=storefront.order_body(("MUG", 1)))
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert_problem(storefront.get("/orders"), 401)


# --- another customer's orders ------------------------------------------------------


def test_another_customers_order_is_not_found_everywhere(
    storefront, catalog, shopper, other_shopper
):
    order_id = storefront.place(shopper, ("MUG", 1)).json()["order_id"]
    storefront.get(f"/orders/{order_id}?wait=5", shopper=shopper)
    for method, path in [
        ("GET", f"/orders/{order_id}"),
        ("GET", f"/orders/{order_id}?wait=5"),
        ("GET", f"/orders/{order_id}?as_of={timezone.now():%Y-%m-%dT%H:%M:%SZ}"),
        ("GET", f"/orders/{order_id}/events"),
        ("POST", f"/orders/{order_id}/cancel"),
    ]:
        response = storefront.call(method, path, shopper=other_shopper)
        problem = assert_problem(response, 404)
        # the same answer as for an order that does not exist: no data, no 403
        assert problem["detail"] == f"order {order_id} does not exist"
        assert "MUG" not in response.text and shopper.email not in response.text
    mine = storefront.get(f"/orders/{order_id}?wait=5", shopper=shopper).json()
    assert mine["status"] != "cancelled"
    unknown = storefront.get(f"/orders/{uuid4()}", shopper=other_shopper)
    assert_problem(unknown, 404)
    assert storefront.get("/orders", shopper=other_shopper).json()["items"] == []


# --- cancelling -------------------------------------------------------------------


def test_cancelling_answers_202_and_twice_changes_nothing(storefront, catalog, shopper):
    order_id = storefront.place(shopper, ("MUG", 1)).json()["order_id"]
    first = storefront.post(f"/orders/{order_id}/cancel", shopper=shopper)
    again = storefront.post(f"/orders/{order_id}/cancel", shopper=shopper)
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json() == {"order_id": order_id, "status": "cancelled"}
    assert again.json() == first.json()
    assert (
        LogEntry.objects.filter(
            stream=f"order-{order_id}", type="orders.OrderCancelled"
        ).count()
        == 1
    )


def test_a_shipped_order_can_no_longer_be_cancelled(storefront, catalog, shopper):
    order_id = storefront.place(shopper, ("MUG", 1)).json()["order_id"]
    assert settled(storefront, shopper, order_id)["status"] == "confirmed"
    call_command("shipping", "dispatch", order_id)
    delivered("shipping", type="shipping.DispatchShipment")
    delivered("orders", type="shipping.ShipmentDispatched")  # orders ships it
    delivered("orders.summary", type="orders.OrderShipped")
    shipped = storefront.get(f"/orders/{order_id}?wait=5", shopper=shopper).json()
    assert shipped["status"] == "shipped"
    assert shipped["shipment"]["tracking_number"].startswith("TRK")

    response = storefront.post(f"/orders/{order_id}/cancel", shopper=shopper)
    assert assert_problem(response, 409)["type"].endswith("invalid-transition")


# --- correlation --------------------------------------------------------------------


def test_the_correlation_id_is_carried_into_every_event_the_order_causes(
    storefront, catalog, shopper
):
    correlation = uuid4()
    placed = storefront.place(
        shopper, ("MUG", 1), headers={"X-Correlation-ID": str(correlation)}
    )
    assert placed.headers["X-Correlation-ID"] == str(correlation)
    order_id = placed.json()["order_id"]
    settled(storefront, shopper, order_id)
    caused = set(
        LogEntry.objects.filter(correlation_id=correlation).values_list(
            "type", flat=True
        )
    )
    assert {
        "orders.OrderPlaced",
        "inventory.InventoryReserved",
        "orders.OrderConfirmed",
    } <= caused


# --- Idempotency-Key --------------------------------------------------------------


def placed_orders() -> int:
    return LogEntry.objects.filter(type="orders.OrderPlaced").count()


def test_a_retry_with_the_same_key_replays_the_first_answer(
    storefront, catalog, shopper
):
    key = {"Idempotency-Key": "order-attempt-1"}
    first = storefront.place(shopper, ("MUG", 2), headers=key)
    retry = storefront.place(shopper, ("MUG", 2), headers=key)
    assert (first.status_code, retry.status_code) == (202, 202)
    assert retry.content == first.content
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert placed_orders() == 1


def test_keys_are_scoped_to_the_customer(storefront, catalog, shopper, other_shopper):
    key = {"Idempotency-Key": "same-key"}
    mine = storefront.place(shopper, ("MUG", 1), headers=key)
    theirs = storefront.place(other_shopper, ("MUG", 1), headers=key)
    assert (mine.status_code, theirs.status_code) == (202, 202)
    assert mine.json()["order_id"] != theirs.json()["order_id"]
    assert "Idempotent-Replayed" not in theirs.headers


def test_the_same_key_with_another_body_is_a_422(storefront, catalog, shopper):
    key = {"Idempotency-Key": "k-1"}
    assert storefront.place(shopper, ("MUG", 1), headers=key).status_code == 202
    other = storefront.place(shopper, ("MUG", 2), headers=key)
    assert assert_problem(other, 422)["type"].endswith("idempotency-key-reused")
    assert placed_orders() == 1


def left_in_flight(shopper, key, request_json, *, locked_at):
    """A key the release before this one committed in flight before its work."""
    IdempotencyKey.objects.create(
        scope=f"orders:{shopper.customer_id}",
        key=key,
        fingerprint=idempotency.fingerprint("place_order", request_json),
        attempt=uuid4(),
        created_at=locked_at,
        locked_at=locked_at,
    )


def test_the_same_key_while_the_first_request_runs_is_a_409(
    storefront, catalog, shopper
):
    # given a request of the release before with this key in flight (not completed)
    body = storefront.order_body(("MUG", 1))
    from orders.schemas import PlaceOrderIn

    left_in_flight(
        shopper,
        "k-2",
        PlaceOrderIn(**body).model_dump_json(),
        locked_at=timezone.now(),
    )
    # when the client retries
    response = storefront.post(
        "/orders", json=body, shopper=shopper, headers={"Idempotency-Key": "k-2"}
    )
    # then it is told to wait, and nothing was placed
    assert assert_problem(response, 409)["type"].endswith("idempotency-key-in-use")
    assert response.headers["Retry-After"] == "1"
    assert placed_orders() == 0


def test_a_key_left_in_flight_by_a_dead_request_is_taken_over(
    storefront, catalog, shopper, settings
):
    body = storefront.order_body(("MUG", 1))
    from orders.schemas import PlaceOrderIn

    left_in_flight(
        shopper,
        "k-3",
        PlaceOrderIn(**body).model_dump_json(),
        locked_at=timezone.now() - settings.EVENTS_IDEMPOTENCY_LEASE * 2,
    )
    response = storefront.post(
        "/orders", json=body, shopper=shopper, headers={"Idempotency-Key": "k-3"}
    )
    assert response.status_code == 202, response.text
    assert IdempotencyKey.objects.get(key="k-3").status == "completed"


@pytest.mark.parametrize("length", [256, 1000])
def test_a_key_over_255_characters_is_a_400(storefront, catalog, shopper, length):
    response = storefront.place(
        shopper, ("MUG", 1), headers={"Idempotency-Key": "k" * length}
    )
    assert assert_problem(response, 400)["type"].endswith("idempotency-key-invalid")
    assert placed_orders() == 0 and not IdempotencyKey.objects.exists()


def test_a_key_of_255_characters_is_fine(storefront, catalog, shopper):
    response = storefront.place(
        shopper, ("MUG", 1), headers={"Idempotency-Key": "k" * 255}
    )
    assert response.status_code == 202, response.text


def test_a_client_error_is_the_keys_answer_too(storefront, catalog, shopper):
    key = {"Idempotency-Key": "k-4"}
    first = storefront.place(shopper, ("POSTER", 2), headers=key)
    assert_problem(first, 409)
    # stock arrives, but the key's answer stays what it was (the request happened)
    AvailabilityView.objects.filter(sku="POSTER").update(available=5)
    retry = storefront.place(shopper, ("POSTER", 2), headers=key)
    assert retry.status_code == 409
    assert retry.json()["shortages"] == first.json()["shortages"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.headers["Content-Type"].startswith("application/problem+json")


def test_a_server_error_frees_the_key_for_a_retry(storefront, catalog, shopper):
    key = {"Idempotency-Key": "k-5"}
    with mock.patch("orders.api.bus.execute", side_effect=RuntimeError("db gone")):
        failed = storefront.place(shopper, ("MUG", 1), headers=key)
    problem = assert_problem(failed, 500)
    assert "db gone" not in failed.text and problem["title"] == "Internal Server Error"
    assert not IdempotencyKey.objects.filter(key="k-5").exists()
    retry = storefront.place(shopper, ("MUG", 1), headers=key)
    assert retry.status_code == 202
    assert "Idempotent-Replayed" not in retry.headers


def test_keys_expire_after_a_day_and_are_pruned(storefront, catalog, shopper):
    key = {"Idempotency-Key": "k-6"}
    first = storefront.place(shopper, ("MUG", 1), headers=key)
    # a day later
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    again = storefront.place(shopper, ("MUG", 1), headers=key)
    assert again.status_code == 202
    assert again.json()["order_id"] != first.json()["order_id"]
    assert "Idempotent-Replayed" not in again.headers
    # and pruning deletes the expired ones only
    IdempotencyKey.objects.create(
        scope="orders:x",
        key="old",
        fingerprint="f",
        attempt=uuid4(),
        created_at=timezone.now() - timedelta(hours=25),
        locked_at=timezone.now() - timedelta(hours=25),
    )
    call_command("idempotency", "prune")
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["k-6"]


def test_concurrent_requests_with_one_key_place_one_order(storefront, catalog, shopper):
    # given four clients sending the same keyed request at once
    from concurrent.futures import ThreadPoolExecutor

    key = {"Idempotency-Key": "k-race"}

    def send(_: int):
        client = Storefront(storefront.root)
        try:
            return client.place(shopper, ("MUG", 1), headers=key)
        finally:
            client.close()

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(send, range(4)))
    # then one order exists; every other answer is its replay or "in progress"
    assert placed_orders() == 1
    accepted = [a for a in answers if a.status_code == 202]
    assert accepted and {a.status_code for a in answers} <= {202, 409}
    assert len({a.json()["order_id"] for a in accepted}) == 1


@pytest.mark.postgres
def test_a_request_with_the_key_of_a_request_still_running_is_a_409_at_once(
    storefront, catalog, shopper
):
    # given a request placing an order, held inside its transaction (it holds the key)
    import threading

    from orders import commands

    inside, go = threading.Event(), threading.Event()
    check_customer = commands._check_customer

    def held(command):
        inside.set()
        assert go.wait(30)
        return check_customer(command)

    key = {"Idempotency-Key": "k-held"}
    first: list = []

    def send_first():
        client = Storefront(storefront.root)
        try:
            first.append(client.place(shopper, ("MUG", 1), headers=key))
        finally:
            client.close()

    with mock.patch.object(commands, "_check_customer", held):
        running = threading.Thread(target=send_first)
        running.start()
        try:
            assert inside.wait(30)
            # when the client sends the same request again meanwhile
            again = storefront.place(shopper, ("MUG", 1), headers=key)
        finally:
            go.set()
            running.join(30)
    # then it was told to retry at once, while the first went on to place the order
    assert assert_problem(again, 409)["type"].endswith("idempotency-key-in-use")
    assert again.headers["Retry-After"] == "1"
    assert first[0].status_code == 202, first[0].text
    # and a retry now replays the first answer: one order
    retry = storefront.place(shopper, ("MUG", 1), headers=key)
    assert retry.status_code == 202 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["order_id"] == first[0].json()["order_id"]
    assert placed_orders() == 1
