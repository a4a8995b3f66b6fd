"""A redriven older event never pushes the order's read model back, and a parked one
is never lost: the summary projection parks an order's event, later ones apply,
staff redrive the parked one, and the order reads over HTTP as its stream stands."""

from __future__ import annotations

from io import StringIO
from uuid import UUID, uuid4

from django.core.management import call_command

import pytest

from events.delivery.subscriptions import Handler, registry
from events.models import DeadLetter, LogEntry
from events.store import rebuild
from orders.projections.summary import OrderSummaryProjection
from processes.waiting import wait_until
from tests.support.storefront import (  # noqa: F401
    ADDRESS,
    Shopper,
    Storefront,
    add_product,
    assert_problem,
    catalog_fixture,
    delivered,
    shopper_fixture,
    storefront_fixture,
)

pytestmark = pytest.mark.django_db(transaction=True)


def fail_on(monkeypatch, subscription: str) -> set[type]:
    """Make a projection fail on the events of the types put in the returned set
    (each failing delivery is parked at once: one attempt)."""
    projection = registry.get(subscription)
    monkeypatch.setattr(projection, "max_attempts", 1)
    types: set[type] = set()
    real = {h.fn for h in projection.handlers.values()}.pop()  # its apply

    def apply(deliveries):
        for delivery in deliveries:
            if type(delivery.message) in types:
                raise ConnectionError("the view's table is unreachable")
        return real(deliveries)

    for name, handler in list(projection.handlers.items()):
        monkeypatch.setitem(
            projection.handlers,
            name,
            Handler(handler.message_type, apply, outside=False, batch=handler.batch),
        )
    return types


@pytest.fixture
def failing(monkeypatch):
    return fail_on(monkeypatch, "orders.summary")


def parked(event_type: str, subscription: str = "orders.summary") -> DeadLetter:
    found = DeadLetter.objects.filter(subscription=subscription, type=event_type)
    wait_until(found.exists, f"{event_type} to be parked")
    return found.get()


def redrive(letter: DeadLetter) -> None:
    call_command("events", "deadletters", "redrive", str(letter.id), stdout=StringIO())


def read(storefront: Storefront, shopper: Shopper, order_id: str) -> dict:
    delivered("orders.summary", stream=f"order-{order_id}")
    return storefront.get(f"/orders/{order_id}", shopper=shopper).json()


def latest_version(order_id: str) -> int:
    return LogEntry.objects.filter(stream=f"order-{order_id}").count()


def test_a_redriven_confirmation_does_not_unship_the_order(
    storefront, catalog, shopper, failing
):
    # given the summary parking the order's confirmation
    from orders.contracts import OrderConfirmed

    failing.add(OrderConfirmed)
    order_id = storefront.place(shopper, ("MUG", 1)).json()["order_id"]
    letter = parked("orders.OrderConfirmed")
    failing.clear()
    # and the order dispatched and shipped after it (the partition moved on)
    call_command("shipping", "dispatch", order_id, stdout=StringIO())
    wait_until(
        lambda: LogEntry.objects.filter(
            stream=f"order-{order_id}", type="orders.OrderShipped"
        ).exists(),
        "the order to ship",
    )
    shipped = read(storefront, shopper, order_id)
    assert (shipped["status"], shipped["version"]) == (
        "shipped",
        latest_version(order_id),
    )
    # when staff redrive the parked confirmation
    redrive(letter)
    # then the order still reads shipped, at its latest version
    after = read(storefront, shopper, order_id)
    assert after["status"] == "shipped", after
    assert after["version"] == latest_version(order_id)
    assert after["shipment"]["status"] == "shipped"
    assert (
        after
        == storefront.get(
            f"/orders/{order_id}",
            params={"as_of": after["updated_at"]},
            shopper=shopper,
        ).json()
    )


def test_a_parked_payment_is_not_lost_when_later_events_apply_first(
    storefront, catalog, shopper, failing
):
    # given the summary parking the order's payment
    from orders.contracts import OrderPaid

    failing.add(OrderPaid)
    order_id = storefront.place(shopper, ("MUG", 1)).json()["order_id"]
    letter = parked("orders.OrderPaid")
    failing.clear()
    # when the confirmation after it applies
    wait_until(
        lambda: LogEntry.objects.filter(
            stream=f"order-{order_id}", type="orders.OrderConfirmed"
        ).exists(),
        "the confirmation",
    )
    confirmed = read(storefront, shopper, order_id)
    # then the order reads as its stream stands: confirmed, and paid
    assert (confirmed["status"], confirmed["payment_status"]) == ("confirmed", "paid")
    assert confirmed["version"] == latest_version(order_id)
    # and redriving the payment moves nothing back
    redrive(letter)
    assert read(storefront, shopper, order_id) == confirmed
    # and the live rows are those a rebuild (every event in order) gives
    assert not rebuild.rebuild(OrderSummaryProjection).changed


# --- the views orders keeps of other apps: the newest event wins --------------------


def test_a_redriven_stock_figure_does_not_bring_back_stock_that_is_gone(
    storefront, shopper, monkeypatch, dispatcher
):
    from inventory.contracts import StockChanged

    # given orders' availability view parking a product's first stock figure
    fail_on(monkeypatch, "orders.availability").add(StockChanged)
    add_product("LAMP", "30.00", 5)
    letter = parked("inventory.StockChanged", "orders.availability")
    # and the newer figure applied after it: staff took the lamps off the shelf
    monkeypatch.undo()
    add_product("LAMP", "30.00", 0)
    delivered("orders.availability", type="inventory.StockChanged")
    # when staff redrive the parked, older figure
    redrive(letter)
    delivered("orders.availability", type="inventory.StockChanged")
    # then the shop does not take an order on the stock that is gone
    problem = assert_problem(storefront.place(shopper, ("LAMP", 1)), 409)
    assert problem["shortages"] == [{"sku": "LAMP", "wanted": 1, "available": 0}]


def test_a_redriven_registration_does_not_reactivate_a_disabled_customer(
    monkeypatch, dispatcher
):
    from django.db import transaction

    from customers.contracts import CustomerRegistered, CustomerUpdated
    from events.commands import bus
    from events.log.outbox import publish
    from orders.contracts import Address, OrderItem, PlaceOrder
    from orders.domain import InactiveCustomerError

    # given orders' customer view parking a registration (staff's CLI), and the
    # customer disabled after it (customers announces it as the admin does)
    fail_on(monkeypatch, "orders.customers").add(CustomerRegistered)
    call_command(
        "customers",
        "add",
        "ann@example.com",
        "--name",
        "Ann",
        "--password",
        "correct horse battery",
        stdout=StringIO(),
    )
    letter = parked("customers.CustomerRegistered", "orders.customers")
    monkeypatch.undo()
    customer_id = UUID(letter.payload["customer_id"])
    with transaction.atomic():
        publish(
            CustomerUpdated(
                customer_id=customer_id,
                email="ann@example.com",
                name="Ann",
                is_active=False,
            )
        )
    delivered("orders.customers", type="customers.CustomerUpdated")
    # when staff redrive the registration
    redrive(letter)
    delivered("orders.customers", type="customers.CustomerRegistered")
    # then orders still refuses the disabled customer's orders
    add_product("LAMP", "30.00", 5)
    delivered("orders.availability", type="inventory.StockChanged")
    with pytest.raises(InactiveCustomerError):
        bus.execute(
            PlaceOrder(
                order_id=uuid4(),
                customer_id=customer_id,
                items=(OrderItem(sku="LAMP", quantity=1),),
                shipping_address=Address(**ADDRESS),
                payment_method="pm_card_visa",
            )
        )
