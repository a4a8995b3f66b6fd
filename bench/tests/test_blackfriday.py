"""The Black Friday bench's own checks: the counting provider adapter, and the two
invariants it reports as "must be 0" (a check that could never see a violation would
prove nothing). Run with ``pytest bench/tests``; the bench itself is ``make
bench-blackfriday``."""

import threading
from decimal import Decimal
from uuid import uuid4

from django.db import connection, transaction
from django.test import override_settings

import pytest

from bench.app import provider
from bench.blackfriday.figures import double_charges, oversells, percentile
from bench.blackfriday.report import ratios
from bench.blackfriday.run import parse, schedule
from bench.common.harness import NullDispatcher
from events.dispatch.current import set_dispatcher
from events.log.outbox import publish
from inventory.models import Hold, Product
from payments.contracts import ChargePayment
from payments.provider import (
    DECLINES,
    FAILS,
    SUCCEEDS,
    Declined,
    FakeProvider,
    ProviderUnavailable,
)
from tests.support.workers import broker_database


@pytest.fixture
def quiet():
    """Published messages wake nobody (no dispatcher runs in these tests)."""
    set_dispatcher(NullDispatcher())
    yield
    set_dispatcher(None)


def charge(*, key, method=SUCCEEDS):
    return FakeProvider().charge(
        idempotency_key=key,
        amount=Decimal("10.00"),
        currency="EUR",
        payment_method=method,
    )


def test_percentile_is_nearest_rank():
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert percentile([float(n) for n in range(1, 101)], 99) == 99.0


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_counting_provider_counts_calls_in_flight(monkeypatch):
    # given: two charges held inside the provider's round trip at the same time
    both_inside = threading.Barrier(2, timeout=10)

    def round_trip() -> bool:
        both_inside.wait()
        return False  # not timed out

    monkeypatch.setattr("payments.provider._network", round_trip)
    errors = []

    def call(method):
        try:
            provider.CountingProvider().charge(
                idempotency_key=f"k-{uuid4()}",
                amount=Decimal("10.00"),
                currency="EUR",
                payment_method=method,
            )
        except ProviderUnavailable as error:
            errors.append(error)
        finally:
            connection.close()  # this thread's own session

    with broker_database() as url, override_settings(REDIS_URL=url):
        # when: one succeeds, the other fails transiently
        threads = [threading.Thread(target=call, args=(m,)) for m in (SUCCEEDS, FAILS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # then: both were in flight at once, none is left, both were counted
        assert provider.read(provider.counters()) == (0, 2, 2)
    assert len(errors) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_double_charges_counts_a_second_successful_charge_of_one_order(quiet):
    # given: order A charged under two ChargePayment messages, order B once, and a
    # charge whose key names no message
    a, b = uuid4(), uuid4()
    with transaction.atomic():
        first, second, only = publish(
            *(
                ChargePayment(
                    order_id=order,
                    amount=Decimal("10.00"),
                    currency="EUR",
                    payment_method=SUCCEEDS,
                )
                for order in (a, a, b)
            )
        )
    for item in (first, second, only):
        charge(key=f"payments:{item.message_id}")
    charge(key="payments:not-a-message")
    with pytest.raises(Declined):  # a decline is in the books, but took no money
        charge(key=f"payments:{uuid4()}", method=DECLINES)
    # when / then
    assert double_charges() == {
        "extra_charges": 1,
        "unmatched_charges": 1,
        "charged_orders": 2,
    }


@pytest.mark.django_db
def test_oversells_counts_units_taken_beyond_the_stock_put_in():
    # given: 5 units put in; 3 held and 3 already committed (taken off the shelf)
    Product.objects.create(sku="TV", name="TV", price=1, on_hand=5, reserved=3)
    Product.objects.create(sku="MUG", name="Mug", price=1, on_hand=9, reserved=2)
    Hold.objects.create(order_id=uuid4(), sku="TV", quantity=3)
    Hold.objects.create(
        order_id=uuid4(), sku="TV", quantity=3, status=Hold.Status.COMMITTED
    )
    Hold.objects.create(order_id=uuid4(), sku="MUG", quantity=1)
    # when / then: TV is oversold; MUG's reserved (2) disagrees with its holds (1)
    assert oversells({"TV": 5, "MUG": 9}) == {
        "below_zero": 0,
        "beyond_stock": 1,
        "books_off": 1,
    }


def test_the_accept_ratio_is_the_slower_providers_over_the_faster_whatever_the_order():
    slow = {"provider_ms": 8000, "accept_latencies_ms": [6.0] * 98 + [30.0] * 2}
    fast = {"provider_ms": 200, "accept_latencies_ms": [5.0] * 98 + [20.0] * 2}
    assert ratios([slow, fast]) == ratios([fast, slow]) == {"p50": 1.2, "p99": 1.5}


def test_the_accept_ratio_pools_each_providers_rounds():
    # given two rounds in ABBA order, one provider slow in its first phase only
    phases = [
        {"provider_ms": 8000, "accept_latencies_ms": [10.0] * 50},
        {"provider_ms": 200, "accept_latencies_ms": [5.0] * 50},
        {"provider_ms": 200, "accept_latencies_ms": [5.0] * 50},
        {"provider_ms": 8000, "accept_latencies_ms": [5.0] * 50},
    ]
    # then each percentile is over the 100 answers of each provider
    assert ratios(phases) == {"p50": 1.0, "p99": 2.0}


def test_two_rounds_run_the_providers_in_abba_order():
    args = parse(["--slow-ms", "8000", "--fast-ms", "200"])
    assert schedule(args) == [
        ("slow-1", 8000),
        ("fast-1", 200),
        ("fast-2", 200),
        ("slow-2", 8000),
    ]
    assert schedule(parse(["--quick"])) == [("slow", 8000), ("fast", 200)]
