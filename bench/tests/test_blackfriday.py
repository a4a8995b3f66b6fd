"""The Black Friday bench's own checks: the counting provider adapter, and the two
invariants it reports as "must be 0" (a check that could never see a violation would
prove nothing). Run with ``pytest bench/tests``; the bench itself is ``make
bench-blackfriday``."""

import statistics
import threading
from decimal import Decimal
from uuid import uuid4

from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

import pytest

from bench.app import provider
from bench.blackfriday.arrivals import arrivals
from bench.blackfriday.figures import double_charges, oversells, percentile
from bench.blackfriday.load import Placers, WarmUpFailed
from bench.blackfriday.report import ratio_intervals, ratios
from bench.blackfriday.run import parse, schedule
from bench.blackfriday.shop import DOORBUSTER, PLENTY, plan, warm_up
from bench.common.harness import NullDispatcher
from events.dispatch.current import set_dispatcher
from events.log.outbox import publish
from events.models import LogEntry
from inventory.models import Hold, Product
from orders.models import AvailabilityView, CustomerView
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


def test_two_rounds_run_the_providers_in_abba_order_each_round_at_its_instants():
    args = parse(["--slow-ms", "8000", "--fast-ms", "200", "--seed", "40"])
    assert schedule(args) == [
        ("slow-1", 8000, 40),
        ("fast-1", 200, 40),
        ("fast-2", 200, 41),
        ("slow-2", 8000, 41),
    ]
    assert schedule(parse(["--quick", "--seed", "7"])) == [
        ("slow", 8000, 7),
        ("fast", 200, 7),
    ]


def test_a_run_draws_its_seed_unless_given_one():
    drawn = {parse([]).seed for _ in range(5)}
    assert all(isinstance(seed, int) and seed > 0 for seed in drawn)
    assert len(drawn) > 1  # five draws below 100,000 all alike: about 1e-20
    assert parse(["--seed", "1128"]).seed == 1128


def test_even_arrivals_are_spaced_by_the_rate():
    assert arrivals(4, rate=2.0, kind="even", seed=1) == [0.0, 0.5, 1.0, 1.5]


def test_poisson_arrivals_are_random_instants_over_the_same_span():
    # given the bench's load: 240 orders at 6/s
    due = arrivals(240, rate=6.0, kind="poisson", seed=1128)
    gaps = [later - earlier for earlier, later in zip(due, due[1:], strict=False)]
    # then: every order within the 40 s, in order, and the same instants for a seed
    assert len(due) == 240 and 0.0 <= due[0] and due[-1] < 40.0
    assert due == sorted(due) == arrivals(240, rate=6.0, kind="poisson", seed=1128)
    assert due != arrivals(240, rate=6.0, kind="poisson", seed=1129)
    # and the gaps are those of a Poisson process, not a period: exponential, so
    # their spread is about their mean (for evenly spaced arrivals it is 0)
    mean, spread = statistics.fmean(gaps), statistics.pstdev(gaps)
    assert 0.8 / 6.0 < mean < 1.2 / 6.0
    assert 0.8 < spread / mean < 1.2


def test_arrivals_must_be_a_known_kind():
    with pytest.raises(ValueError, match="poisson, even"):
        arrivals(3, rate=1.0, kind="bursty", seed=1)
    assert parse([]).arrivals == "poisson"
    assert parse(["--arrivals", "even"]).arrivals == "even"


def test_the_accept_ratios_come_with_their_bootstrap_interval():
    # given two providers with the same accept latencies but for one slow outlier
    same = [float(n) for n in range(1, 101)]
    phases = [
        {"provider_ms": 8000, "accept_latencies_ms": [*same, 500.0]},
        {"provider_ms": 200, "accept_latencies_ms": [*same, 100.0]},
    ]
    intervals = ratio_intervals(phases, resamples=300)
    # then each interval holds the ratio measured (1.0: the p99 of 101 accepts is the
    # second slowest); the p99's reaches far above it, as a draw that takes the
    # outlier twice makes it the p99 of the slow side
    measured = ratios(phases)
    (low50, high50), (low99, high99) = intervals["p50"], intervals["p99"]
    assert low50 <= measured["p50"] == 1.0 <= high50
    assert low99 <= measured["p99"] == 1.0 and high99 >= 2.0
    assert ratio_intervals(phases, resamples=300) == intervals  # seeded


def test_the_untimed_orders_take_every_path_of_a_journey_but_the_doorbusters():
    customers = [uuid4(), uuid4()]
    orders = warm_up(count=8, customers=customers)
    methods = [order.command.payment_method for order in orders]
    assert methods == [SUCCEEDS] * 7 + [DECLINES]  # a confirmation and a compensation
    skus = {item.sku for order in orders for item in order.command.items}
    assert DOORBUSTER not in skus and skus <= set(PLENTY)
    assert {order.command.customer_id for order in orders} == set(customers)
    # numbered before the timed orders, which the placing sorts by number
    assert [order.number for order in orders] == list(range(-8, 0))


@pytest.fixture
def orderable(quiet):
    """What orders must know before it accepts a bench order: a customer, and the
    PLENTY products in its availability view."""
    customer = CustomerView.objects.create(
        customer_id=uuid4(), email="bench@bench.invalid", name="Bench"
    )
    for sku in PLENTY:
        AvailabilityView.objects.create(
            sku=sku,
            name=sku,
            price=Decimal("5.00"),
            currency="EUR",
            available=1_000,
            updated_at=timezone.now(),
        )
    return customer.customer_id


def placed() -> int:
    return LogEntry.objects.filter(type="orders.OrderPlaced").count()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_each_placer_places_its_untimed_order_before_the_clock(orderable):
    # given three placers and two untimed orders, then one timed order
    untimed = warm_up(count=2, customers=[orderable])
    timed = plan(orders=1, customers=[orderable], seed=1)
    with Placers(3, warm_up=untimed) as placers:
        # when the placers have started: the untimed orders are in, no timed one
        assert placed() == 2
        placement = placers.place(timed, due=[0.0], progress=lambda n: None)
    # then the placing counts the timed order only, accepted
    assert [p.planned.number for p in placement.orders] == [0]
    assert placement.orders[0].accepted and placed() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_untimed_order_refused_stops_the_bench_before_the_clock(orderable):
    # given an untimed order from a customer orders does not know
    untimed = warm_up(count=1, customers=[uuid4()])
    before = set(threading.enumerate())
    # when the placers start: a clear error, and no placer thread is left running
    with pytest.raises(WarmUpFailed, match="untimed order before the clock failed"):
        with Placers(2, warm_up=untimed):
            pytest.fail("the block must not run")
    assert {t for t in threading.enumerate() if t.name.startswith("placer-")} <= before
    assert placed() == 0
