"""The order flow end to end, in-process: placing an order starts the fulfilment saga,
which reserves stock, charges the card and creates the shipment, then confirms the
order; a declined card or missing stock undoes what was done and rejects the order.
Every app is reached only through messages; the test reads each app's outcome through
the read models and the participants' own tables."""

import time
from uuid import uuid4

from django.core.management import call_command

import pytest

from events import bus
from events.models import LogEntry, SagaInstance
from inventory.models import Product
from orders import queries
from orders.contracts import Address, OrderItem, PlaceOrder
from orders.models import AvailabilityView, CustomerView
from payments.models import FakeProviderCharge
from shipping.models import Shipment

pytestmark = pytest.mark.django_db(transaction=True)
ADDRESS = Address(
    name="Ann", line1="1 Main St", city="Paris", postal_code="75001", country="FR"
)


def wait_until(predicate, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def shop(dispatcher):
    call_command(
        "catalog", "add", "MUG", "--name", "Mug", "--price", "9.50", "--stock", "10"
    )
    call_command(
        "catalog",
        "add",
        "POSTER",
        "--name",
        "Poster",
        "--price",
        "120.00",
        "--stock",
        "1",
    )
    call_command(
        "customers", "add", "ann@example.com", "--name", "Ann", "--password", "pw"
    )
    wait_until(lambda: AvailabilityView.objects.count() == 2, "the availability view")
    wait_until(lambda: CustomerView.objects.exists(), "the customer view")
    return CustomerView.objects.get().customer_id


def place(customer_id, *items, payment_method="pm_card_visa"):
    order_id = uuid4()
    bus.execute(
        PlaceOrder(
            order_id=order_id,
            customer_id=customer_id,
            items=tuple(OrderItem(sku=sku, quantity=q) for sku, q in items),
            shipping_address=ADDRESS,
            payment_method=payment_method,
        )
    )
    return order_id


def settled(order_id):
    saga = SagaInstance.objects.filter(key=str(order_id)).first()
    summary = queries.order_summary(order_id)
    return (
        saga is not None
        and saga.status in {"completed", "compensated", "needs_attention"}
        and summary is not None
        and summary["status"] in {"confirmed", "rejected"}
    )


def test_an_order_is_reserved_charged_shipped_and_confirmed(shop):
    order_id = place(shop, ("MUG", 2))
    wait_until(lambda: settled(order_id), "the order to settle")
    summary = queries.order_summary(order_id)
    assert (summary["status"], summary["payment_status"]) == ("confirmed", "paid")
    assert summary["reserved"] is True
    assert FakeProviderCharge.objects.count() == 1
    assert Shipment.objects.get(order_id=order_id).tracking_number.startswith("TRK")
    mug = Product.objects.get(sku="MUG")
    assert (mug.on_hand, mug.reserved) == (10, 2)
    flow = LogEntry.objects.filter(
        correlation_id=LogEntry.objects.get(type="orders.OrderPlaced").correlation_id
    )
    assert {
        "orders.OrderConfirmed",
        "payments.PaymentSucceeded",
        "inventory.InventoryReserved",
        "shipping.ShipmentCreated",
    } <= set(flow.values_list("type", flat=True))


def test_a_declined_card_releases_the_stock_and_rejects_the_order(shop):
    order_id = place(shop, ("MUG", 3), payment_method="pm_card_chargeDeclined")
    wait_until(lambda: settled(order_id), "the order to settle")
    summary = queries.order_summary(order_id)
    assert summary["status"] == "rejected" and "declined" in summary["reason"]
    assert summary["reserved"] is False
    assert Product.objects.get(sku="MUG").reserved == 0
    assert not Shipment.objects.exists()


def test_stock_gone_since_the_view_was_read_rejects_the_order(shop):
    # given a view that still shows stock inventory no longer has (it is eventually
    # consistent: the authoritative reservation is inventory's)
    AvailabilityView.objects.filter(sku="POSTER").update(available=5)
    order_id = place(shop, ("POSTER", 2))
    wait_until(lambda: settled(order_id), "the order to settle")
    summary = queries.order_summary(order_id)
    assert summary["status"] == "rejected" and "POSTER" in summary["reason"]
    assert FakeProviderCharge.objects.count() == 0


def test_dispatch_ships_the_order_and_takes_the_stock_off_the_shelf(shop):
    # given a confirmed order
    order_id = place(shop, ("MUG", 2))
    wait_until(lambda: settled(order_id), "the order to settle")
    # when staff dispatch it
    call_command("shipping", "dispatch", str(order_id))
    # then the order is shipped and the stock has left
    wait_until(
        lambda: queries.order_summary(order_id)["status"] == "shipped", "shipped"
    )
    wait_until(lambda: Product.objects.get(sku="MUG").on_hand == 8, "the stock")
    assert Product.objects.get(sku="MUG").reserved == 0
