"""Points delivered to the real ``loyalty`` subscription: awarded on confirm, revoked
on cancel or refund, each at most once per order. Drains are called directly, so every
step is deterministic. Runs on SQLite and, in the PostgreSQL pass, on PostgreSQL."""

from decimal import Decimal
from uuid import uuid4

from django.db import transaction

import pytest

from events.delivery.drain import drain
from events.delivery.subscriptions import registry
from events.log.outbox import publish
from events.log.partitions import partition_for
from events.models import LogEntry
from loyalty.models import PointEntry
from loyalty.queries import balance
from orders.contracts import (
    Address,
    OrderCancelled,
    OrderConfirmed,
    OrderLine,
    OrderPlaced,
)
from payments.contracts import PaymentRefunded

pytestmark = pytest.mark.django_db(transaction=True)
ADDRESS = Address(
    name="Ada", line1="1 Main St", city="Paris", postal_code="75001", country="FR"
)


@pytest.fixture
def loyalty():
    return registry.get("loyalty")


def deliver(subscription, *events):
    """Publish ``events`` in one transaction, then deliver their order's partition."""
    with transaction.atomic():
        items = publish(*events)
    drain(subscription, partition_for(events[0].message_key()))
    return items


def placed(order_id, customer_id, amount="42.99"):
    return OrderPlaced(
        order_id=order_id,
        customer_id=customer_id,
        lines=(
            OrderLine(
                sku="MUG", quantity=1, unit_price=Decimal(amount), currency="EUR"
            ),
        ),
        shipping_address=ADDRESS,
        payment_method="pm_card_visa",
        amount=Decimal(amount),
        currency="EUR",
    )


def refunded(order_id):
    return PaymentRefunded(
        order_id=order_id,
        amount=Decimal("42.99"),
        currency="EUR",
        payment_reference="ch_1",
        refund_reference="re_1",
    )


def loyalty_events(customer_id):
    rows = LogEntry.objects.filter(key=str(customer_id), type__startswith="loyalty.")
    return [(r.type, r.payload["points"]) for r in rows.order_by("id")]


def test_a_confirmed_order_earns_one_point_per_whole_currency_unit(loyalty):
    # given
    order_id, customer_id = uuid4(), uuid4()
    deliver(loyalty, placed(order_id, customer_id, "42.99"))
    # when
    deliver(loyalty, OrderConfirmed(order_id=order_id))
    # then
    assert balance(customer_id) == 42
    assert loyalty_events(customer_id) == [("loyalty.PointsAwarded", 42)]


def test_an_order_confirmed_twice_earns_its_points_once(loyalty):
    # given
    order_id, customer_id = uuid4(), uuid4()
    deliver(loyalty, placed(order_id, customer_id))
    # when two OrderConfirmed messages (different message ids) arrive
    first = deliver(loyalty, OrderConfirmed(order_id=order_id))
    second = deliver(loyalty, OrderConfirmed(order_id=order_id))
    # then
    assert first[0].message_id != second[0].message_id
    assert balance(customer_id) == 42
    assert PointEntry.objects.filter(order_id=order_id).count() == 1
    assert loyalty_events(customer_id) == [("loyalty.PointsAwarded", 42)]


def test_a_cancelled_order_loses_its_points_once(loyalty):
    # given
    order_id, customer_id = uuid4(), uuid4()
    deliver(loyalty, placed(order_id, customer_id), OrderConfirmed(order_id=order_id))
    # when
    deliver(loyalty, OrderCancelled(order_id=order_id, reason="changed my mind"))
    deliver(loyalty, OrderCancelled(order_id=order_id, reason="again"))
    # then
    assert balance(customer_id) == 0
    assert loyalty_events(customer_id) == [
        ("loyalty.PointsAwarded", 42),
        ("loyalty.PointsRevoked", 42),
    ]


def test_a_refunded_order_loses_its_points_once_even_after_a_cancel(loyalty):
    # given another order of the customer keeps its points
    order_id, other_id, customer_id = uuid4(), uuid4(), uuid4()
    deliver(loyalty, placed(other_id, customer_id, "10.00"))
    deliver(loyalty, OrderConfirmed(order_id=other_id))
    deliver(loyalty, placed(order_id, customer_id), OrderConfirmed(order_id=order_id))
    # when
    deliver(loyalty, refunded(order_id))
    deliver(loyalty, refunded(order_id))
    deliver(loyalty, OrderCancelled(order_id=order_id, reason="compensated"))
    # then
    assert balance(customer_id) == 10
    assert loyalty_events(customer_id).count(("loyalty.PointsRevoked", 42)) == 1


def test_nothing_is_revoked_for_an_order_that_earned_nothing(loyalty):
    # given an order placed but never confirmed
    order_id, customer_id = uuid4(), uuid4()
    deliver(loyalty, placed(order_id, customer_id))
    # when
    deliver(loyalty, OrderCancelled(order_id=order_id, reason="out of stock"))
    deliver(loyalty, refunded(order_id))
    # then
    assert balance(customer_id) == 0
    assert not PointEntry.objects.filter(order_id=order_id).exists()
    assert loyalty_events(customer_id) == []


def test_points_awarded_carries_the_orders_correlation_id(loyalty):
    # given
    order_id, customer_id = uuid4(), uuid4()
    (place,) = deliver(loyalty, placed(order_id, customer_id))
    # when
    (confirm,) = deliver(loyalty, OrderConfirmed(order_id=order_id))
    # then
    awarded = LogEntry.objects.get(key=str(customer_id), type="loyalty.PointsAwarded")
    assert awarded.correlation_id == confirm.correlation_id
    assert awarded.causation_id == confirm.message_id
    assert awarded.payload == {
        "customer_id": str(customer_id),
        "order_id": str(order_id),
        "points": 42,
    }


def test_a_balance_is_zero_for_an_unknown_customer():
    assert balance(uuid4()) == 0
