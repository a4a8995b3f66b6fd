"""``manage.py seed_demo`` (run by every ``make run``) creates what is missing and
never overwrites what the shop did since: stock that orders took or hold, orders,
customers and staff all survive a second run."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command

import pytest

from processes.waiting import wait_until
from shop.management.commands.seed_demo import DEMO_CUSTOMER
from tests.support.storefront import Shopper, Storefront, delivered, storefront_fixture  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    delivered("orders.availability", type="inventory.StockChanged")
    return out.getvalue()


def order_reaches(storefront, shopper, order_id, statuses):
    """The order once its status is one of ``statuses`` (bounded poll)."""
    last = {}

    def read():
        order = storefront.get(f"/orders/{order_id}?wait=1", shopper=shopper).json()
        last["order"] = order
        return order if order["status"] in statuses else None

    return wait_until(
        read,
        f"order {order_id} to reach {statuses}",
        explain=lambda: f"it is {last['order']}",
    )


def available(storefront, sku):
    return storefront.get(f"/products/{sku}").json()["available"]


def test_seeding_again_keeps_the_stock_orders_took_and_hold(storefront, dispatcher):
    # given the demo shop, where one order shipped 2 hoodies and another holds 3
    seed()
    email, _, password = DEMO_CUSTOMER
    token = storefront.login(email, password).json()["token"]
    # the test never reads the demo customer's id: only its token is used
    demo = Shopper(customer_id=None, email=email, token=token)  # type: ignore[arg-type]
    delivered("orders.customers", type="customers.CustomerRegistered")
    assert available(storefront, "HOODIE-GRY-L") == 25
    shipped = storefront.place(demo, ("HOODIE-GRY-L", 2)).json()["order_id"]
    order_reaches(storefront, demo, shipped, {"confirmed"})
    call_command("shipping", "dispatch", shipped, stdout=StringIO())
    order_reaches(storefront, demo, shipped, {"shipped"})
    held = storefront.place(demo, ("HOODIE-GRY-L", 3)).json()["order_id"]
    order_reaches(storefront, demo, held, {"confirmed"})
    delivered("orders.availability", type="inventory.StockChanged")
    assert available(storefront, "HOODIE-GRY-L") == 20  # 25 - 2 shipped - 3 held
    # when the shop is seeded again (the next `make run`)
    output = seed()
    # then the stock is what the orders left, not the demo's starting figure
    assert available(storefront, "HOODIE-GRY-L") == 20
    assert "HOODIE-GRY-L" in output and "kept" in output
    # and the orders, the customer and its token are all there
    mine = storefront.get("/orders", shopper=demo).json()["items"]
    assert {(o["order_id"], o["status"]) for o in mine} == {
        (shipped, "shipped"),
        (held, "confirmed"),
    }
    assert storefront.login(email, password).status_code == 201


def test_seeding_creates_a_demo_product_that_is_missing(storefront, dispatcher):
    # given a shop that has only some of the demo products
    call_command(
        "catalog",
        "add",
        "MUG-LOGO",
        "--name",
        "Mug",
        "--price",
        "8.00",
        "--stock",
        "3",
        stdout=StringIO(),
    )
    # when it is seeded
    seed()
    # then the missing ones are created and the one there is left as it was
    assert available(storefront, "HOODIE-GRY-L") == 25
    mug = storefront.get("/products/MUG-LOGO").json()
    assert (mug["price"], mug["available"]) == ("8.00", 3)
