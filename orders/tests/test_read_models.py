"""The order read models follow the order's events (and inventory's reservation
events), the queries answer from them, and a rebuild gives the same rows."""

from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

from django.db import transaction
from django.utils import timezone

import pytest

from events.delivery.drain import drain
from events.delivery.subscriptions import registry
from events.log.outbox import publish
from events.models import LogEntry
from events.store import rebuild, streams
from inventory.contracts import InventoryReserved
from orders import queries
from orders.contracts import (
    Address,
    ItemAdded,
    ItemRemoved,
    OrderLine,
    OrderPaid,
    OrderPlaced,
    OrderShipped,
)
from orders.models import OrderLineView, OrderSummaryView
from orders.projections.summary import OrderSummaryProjection

pytestmark = pytest.mark.django_db(transaction=True)
ADDRESS = Address(
    name="Ann", line1="1 Main St", city="Paris", postal_code="75001", country="FR"
)


def order_events(order_id, *events):
    stream = f"order-{order_id}"
    with transaction.atomic():
        streams.append(stream, events, expected_version=streams.current_version(stream))


def place(order_id, customer_id, *lines):
    order_events(
        order_id,
        OrderPlaced(
            order_id=order_id,
            customer_id=customer_id,
            lines=tuple(
                OrderLine(sku=sku, quantity=q, unit_price=Decimal(p), currency="EUR")
                for sku, q, p in lines
            ),
            shipping_address=ADDRESS,
            payment_method="pm_card_visa",
        ),
    )


def project():
    subscription = registry.get("orders.summary")
    for partition in range(8):
        drain(subscription, partition)


def test_the_summary_follows_the_order_through_its_life():
    # given
    order_id, customer_id = uuid4(), uuid4()
    place(order_id, customer_id, ("MUG", 2, "9.50"), ("TEE", 1, "19.90"))
    order_events(
        order_id,
        ItemAdded(
            order_id=order_id,
            sku="MUG",
            quantity=1,
            unit_price=Decimal("9.50"),
            currency="EUR",
        ),
        ItemRemoved(order_id=order_id, sku="TEE", quantity=1),
        OrderPaid(
            order_id=order_id,
            amount=Decimal("28.50"),
            currency="EUR",
            payment_reference="ch_1",
        ),
    )
    with transaction.atomic():
        publish(InventoryReserved(order_id=order_id))
    # when
    project()
    # then
    summary = queries.order_summary(order_id)
    assert summary is not None
    assert summary["status"] == "placed" and summary["version"] == 4
    assert (summary["item_count"], summary["total"]) == (3, Decimal("28.50"))
    assert (summary["payment_status"], summary["reserved"]) == ("paid", True)
    assert summary["lines"] == [
        {"sku": "MUG", "quantity": 3, "unit_price": Decimal("9.50"), "currency": "EUR"}
    ]
    assert [r["order_id"] for r in queries.ready_to_ship()] == [order_id]
    # when it ships
    order_events(order_id, OrderShipped(order_id=order_id, tracking_number="TRK1"))
    project()
    summary = queries.order_summary(order_id)
    assert summary is not None
    assert (summary["status"], summary["tracking_number"]) == ("shipped", "TRK1")
    assert queries.ready_to_ship() == []


def test_a_customers_orders_come_newest_first_in_stable_pages():
    customer_id = uuid4()
    orders = [uuid4() for _ in range(5)]
    for n, order_id in enumerate(orders):
        place(order_id, customer_id, ("MUG", 1, "9.50"))
        LogEntry.objects.filter(stream=f"order-{order_id}").update(
            recorded_at=timezone.now() + timedelta(minutes=n)
        )
    place(uuid4(), uuid4(), ("MUG", 1, "9.50"))  # someone else's
    project()
    first = queries.customer_orders(customer_id, limit=3)
    last = first[-1]
    second = queries.customer_orders(
        customer_id, limit=3, before=(last["created_at"], last["order_id"])
    )
    assert [r["order_id"] for r in first + second] == orders[::-1]


def test_a_rebuilt_order_view_equals_the_live_one_row_for_row():
    for n in range(30):
        order_id = uuid4()
        place(order_id, uuid4(), ("MUG", n % 3 + 1, "9.50"), ("TEE", 1, "19.90"))
        if n % 2:
            order_events(
                order_id, ItemRemoved(order_id=order_id, sku="TEE", quantity=1)
            )
    project()
    before = (
        list(OrderSummaryView.objects.order_by("pk").values_list()),
        list(OrderLineView.objects.order_by("pk").values_list()),
    )
    report = rebuild.rebuild(OrderSummaryProjection)
    after = (
        list(OrderSummaryView.objects.order_by("pk").values_list()),
        list(OrderLineView.objects.order_by("pk").values_list()),
    )
    assert after == before and not report.changed
    assert report.rows == {"orders_summary_view": 30, "orders_line_view": 45}
