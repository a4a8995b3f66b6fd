"""The order flow end to end through real Celery workers, on PostgreSQL and Redis.

The same flow as ``test_order_flow`` (placing an order starts the fulfilment saga:
reserve, charge, ship, confirm; a failure undoes and rejects), but every message is
delivered by ``celery -A shop worker`` processes (``conftest.start_workers``): the
default queue's worker runs the saga, inventory, shipping, orders, notifications and
loyalty; a worker of threads runs payments on its own queue. What only real workers
show: the wake-up wiring of every subscription, stock reservations racing in
separate processes, a worker SIGKILLed with charges in flight, mail retried and parked
by the worker's own mail server configuration.

The test reads each app's outcome from its own tables (the worker is another process:
mails are checked in notifications' table, not ``django.core.mail.outbox``). Every
wait polls the database with a deadline and reports the flow's state on timeout;
nothing sleeps for a result.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from io import StringIO
from uuid import UUID, uuid4

from django.core.management import call_command
from django.db import connection, connections
from django.db.models import F

import pytest

from events.commands import bus
from events.delivery.subscriptions import registry
from events.models import DeadLetter, LogEntry, SagaInstance
from events.ops.status import all_status
from events.tasks import sweep
from inventory.models import Hold, Product
from loyalty.models import PointEntry
from notifications.models import Notification
from orders.contracts import Address, OrderItem, PlaceOrder
from orders.models import AvailabilityView, CustomerView, OrderSummaryView
from payments.models import FakeProviderCharge, Payment
from processes.waiting import wait_until
from shipping.models import Shipment
from tests.support import workers
from tests.support.console import summary_of

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

FULFILMENT = "orders.fulfilment"
FINAL = ("completed", "compensated", "needs_attention", "resolved")
TIMEOUT = 60.0  # generous for a shared 2-core machine; a pass takes a few seconds
REFUSING_SMTP = "smtp://127.0.0.1:1"  # nothing listens there: connect is refused
# Database sessions the 50 placing threads may hold at once: the PostgreSQL server
# (max_connections 100 here) is shared with the workers and with other test runs.
PLACING_SESSIONS = 10
ADDRESS = Address(
    name="Ann", line1="1 Main St", city="Paris", postal_code="75001", country="FR"
)


# --- waiting, and what to show when a wait times out -----------------------------


def flow_state() -> str:
    """Sagas and orders by status, subscriptions behind or failing, dead letters. An
    error that escaped a drain is not recorded anywhere: the workers' output (printed
    at teardown) has its traceback."""
    sagas = Counter(SagaInstance.objects.values_list("status", flat=True))
    orders = Counter(OrderSummaryView.objects.values_list("status", flat=True))
    behind = [
        f"  {row.subscription} p{row.partition}: at {row.checkpoint} of {row.head}"
        f" (lag {row.lag}){' error: ' + row.last_error if row.last_error else ''}"
        for row in all_status()
        if (row.lag or row.last_error) and row.subscription in workers.APP_SUBSCRIPTIONS
    ]
    parked = [
        f"  {d.subscription} {d.type} p{d.partition}@{d.offset}: {d.error}"
        for d in DeadLetter.objects.all()
    ]
    return "\n".join(
        [f"sagas: {dict(sagas)}", f"orders: {dict(orders)}", "behind:", *behind]
        + ["dead letters:", *parked]
    )


def caught_up() -> bool:
    """Every subscription the workers run has handled (or parked) every message of
    its topics."""
    return not any(
        row.lag or row.last_error
        for row in all_status()
        if row.subscription in workers.APP_SUBSCRIPTIONS
    )


# --- builders ------------------------------------------------------------------


def open_shop(*products: tuple[str, str, int]) -> UUID:
    """Products (sku, price, stock) and a customer, added through manage.py as staff
    would; returns the customer's id once orders' views (fed by the worker) know
    them all."""
    for sku, price, stock in products:
        call_command(
            "catalog",
            "add",
            sku,
            "--name",
            sku.title(),
            "--price",
            price,
            "--stock",
            str(stock),
            stdout=StringIO(),
        )
    call_command(
        "customers",
        "add",
        "ann@example.com",
        "--name",
        "Ann",
        "--password",
        "pw-of-ann",
        stdout=StringIO(),
    )
    wait_until(
        lambda: (
            AvailabilityView.objects.count() == len(products)
            and CustomerView.objects.exists()
        ),
        "orders' views of the catalogue and the customer",
        timeout=TIMEOUT,
        explain=flow_state,
    )
    return CustomerView.objects.get().customer_id


def place(
    customer_id: UUID, *items: tuple[str, int], payment_method: str = "pm_card_visa"
) -> UUID:
    order_id = uuid4()
    bus.execute(
        PlaceOrder(
            order_id=order_id,
            customer_id=customer_id,
            items=tuple(OrderItem(sku=sku, quantity=n) for sku, n in items),
            shipping_address=ADDRESS,
            payment_method=payment_method,
        )
    )
    return order_id


def settled(order_ids: Iterable[UUID]) -> bool:
    """Each order's saga is in a final state and its summary confirmed or rejected."""
    ids = list(order_ids)
    sagas = SagaInstance.objects.filter(
        saga=FULFILMENT, key__in=[str(i) for i in ids], status__in=FINAL
    )
    views = OrderSummaryView.objects.filter(
        order_id__in=ids, status__in=("confirmed", "rejected")
    )
    return sagas.count() == len(ids) and views.count() == len(ids)


def saga_status(order_id: UUID) -> str:
    return SagaInstance.objects.get(saga=FULFILMENT, key=str(order_id)).status


def provider_charges_of(order_id: UUID) -> list[FakeProviderCharge]:
    """The provider's successful charges made for the order's ChargePayment messages
    (the idempotency key is ``payments:<message id>``)."""
    keys = [
        f"payments:{message_id}"
        for message_id in LogEntry.objects.filter(
            type="payments.ChargePayment", key=str(order_id)
        ).values_list("message_id", flat=True)
    ]
    return list(
        FakeProviderCharge.objects.filter(idempotency_key__in=keys, succeeded=True)
    )


# --- the flow ------------------------------------------------------------------


def test_an_order_is_reserved_charged_shipped_confirmed_mailed_and_rewarded(
    start_workers,
):
    # given the shop's workers, a customer and a product
    start_workers()
    customer_id = open_shop(("MUG", "9.50", 10))
    # when the customer orders two mugs
    order_id = place(customer_id, ("MUG", 2))
    # then the saga completes and the order is confirmed, mailed and rewarded
    wait_until(
        lambda: (
            settled([order_id])
            and Notification.objects.filter(order_id=order_id, status="sent").exists()
            and PointEntry.objects.filter(order_id=order_id).exists()
        ),
        "the order to be confirmed, mailed and rewarded",
        timeout=TIMEOUT,
        explain=flow_state,
    )
    assert saga_status(order_id) == "completed"
    summary = summary_of(order_id)
    assert (summary["status"], summary["payment_status"], summary["reserved"]) == (
        "confirmed",
        "paid",
        True,
    )
    mug = Product.objects.get(sku="MUG")
    assert (mug.on_hand, mug.reserved) == (10, 2)
    (charge,) = provider_charges_of(order_id)
    assert FakeProviderCharge.objects.count() == 1
    assert (charge.amount, charge.currency) == (Decimal("19.00"), "EUR")
    payment = Payment.objects.get(order_id=order_id)
    assert (payment.status, payment.charge_reference) == ("succeeded", charge.reference)
    assert Shipment.objects.get(order_id=order_id).tracking_number.startswith("TRK")
    mail = Notification.objects.get(order_id=order_id)
    assert (mail.kind, mail.email) == ("confirmed", "ann@example.com")
    points = PointEntry.objects.get(order_id=order_id)
    assert (points.kind, points.points, points.customer_id) == (
        "award",
        19,
        customer_id,
    )
    assert not DeadLetter.objects.exists()


def test_a_declined_card_rejects_the_order_and_releases_the_stock(start_workers):
    # given the shop's workers, a customer and a product
    start_workers()
    customer_id = open_shop(("MUG", "9.50", 10))
    # when the customer orders with a card the provider declines
    order_id = place(customer_id, ("MUG", 3), payment_method="pm_card_chargeDeclined")
    # then the stock is released and the order rejected with the provider's reason
    wait_until(
        lambda: (
            settled([order_id])
            and Notification.objects.filter(order_id=order_id, status="sent").exists()
        ),
        "the order to be rejected and mailed",
        timeout=TIMEOUT,
        explain=flow_state,
    )
    assert saga_status(order_id) == "compensated"
    summary = summary_of(order_id)
    assert summary["status"] == "rejected"
    assert (summary["reason"], summary["reason_code"]) == (
        "the card was declined",
        "card_declined",
    )
    assert summary["reserved"] is False
    assert Product.objects.get(sku="MUG").reserved == 0
    assert list(Hold.objects.values_list("status", flat=True)) == ["released"]
    assert not FakeProviderCharge.objects.filter(succeeded=True).exists()
    assert Payment.objects.get(order_id=order_id).status == "declined"
    assert not Shipment.objects.exists()
    assert Notification.objects.get(order_id=order_id).kind == "rejected"
    assert not PointEntry.objects.exists()
    assert not DeadLetter.objects.exists()


def test_fifty_orders_racing_for_the_last_unit_sell_it_once(start_workers):
    # given one unit in stock, and orders' availability view paused by staff while
    # the orders are placed (else the view, updated by a worker after the first
    # reservation, would refuse the later ones at the door: correct, but not the race
    # to test; a pause holds in every worker, whatever wakes it)
    workers = start_workers()
    customer_id = open_shop(("LAST", "30.00", 1))
    call_command(
        "events",
        "pause",
        "orders.availability",
        "--reason",
        "the race",
        stdout=StringIO(),
    )
    placed: list[UUID] = []
    errors: list[BaseException] = []
    start = threading.Barrier(50)
    sessions = threading.BoundedSemaphore(PLACING_SESSIONS)

    def order_one() -> None:
        try:
            start.wait(timeout=30)
            with sessions:
                try:
                    placed.append(place(customer_id, ("LAST", 1)))
                finally:
                    connections.close_all()  # this thread's connection
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    # when 50 threads place an order for it at once (10 sessions at a time), and the
    # workers are woken
    threads = [threading.Thread(target=order_one) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    call_command("events", "resume", "orders.availability", stdout=StringIO())
    assert not errors and len(placed) == 50, errors[:3]
    wait_until(
        lambda: settled(placed),
        "the 50 orders to settle",
        timeout=120,
        explain=flow_state,
    )
    # then exactly one order is confirmed and charged; 49 are rejected as short
    statuses = Counter(
        OrderSummaryView.objects.filter(order_id__in=placed).values_list(
            "status", flat=True
        )
    )
    assert statuses == {"confirmed": 1, "rejected": 49}
    for reason in OrderSummaryView.objects.filter(status="rejected").values_list(
        "reason", flat=True
    ):
        assert reason == "out of stock: LAST (1 wanted, 0 available)", reason
    assert FakeProviderCharge.objects.count() == 1
    (winner,) = OrderSummaryView.objects.filter(status="confirmed")
    assert len(provider_charges_of(winner.order_id)) == 1
    # and the stock never went below zero: one unit held, by the winner, and the
    # database's check (reserved <= on_hand) was never even reached
    last = Product.objects.get(sku="LAST")
    assert (last.on_hand, last.reserved) == (1, 1)
    assert list(Hold.objects.values_list("order_id", "status")) == [
        (winner.order_id, "held")
    ]
    assert not Product.objects.filter(reserved__gt=F("on_hand")).exists()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT convalidated FROM pg_constraint WHERE conname = %s",
            ["inventory_product_reserved_lte_on_hand"],
        )
        assert cursor.fetchone() == (True,)
    output = workers.default.output
    assert "inventory_product_reserved_lte_on_hand" not in output
    assert "IntegrityError" not in output
    assert AvailabilityView.objects.get(sku="LAST").available == 0
    assert not DeadLetter.objects.exists()


def test_a_worker_killed_with_charges_in_flight_charges_each_order_once(
    start_workers,
):
    # given workers whose provider takes 300 ms a call, and 20 orders of different
    # amounts (1 to 20 mugs at 1.00)
    first = start_workers(latency_ms=300)
    customer_id = open_shop(("MUG", "1.00", 1000))
    orders = {place(customer_id, ("MUG", n)): Decimal(n) for n in range(1, 21)}
    # when both workers (processes, pools, threads) are SIGKILLed once some orders
    # are charged but not all
    wait_until(
        lambda: FakeProviderCharge.objects.count() >= 3,
        "the first charges",
        timeout=TIMEOUT,
        explain=flow_state,
    )
    first.kill()
    charged_at_kill = FakeProviderCharge.objects.count()
    assert charged_at_kill < len(orders), "every order was charged before the kill"
    # and new workers start (with beat, whose sweep finds what the killed ones held:
    # their drain tasks stay unacked in Redis for the visibility timeout), plus a sweep
    start_workers(latency_ms=300, beat=True)
    sweep.delay()
    # then every saga completes and every order is confirmed...
    wait_until(
        lambda: settled(orders),
        "the 20 orders to settle",
        timeout=TIMEOUT,
        explain=flow_state,
    )
    assert Counter(
        SagaInstance.objects.filter(saga=FULFILMENT).values_list("status", flat=True)
    ) == {"completed": 20}
    assert Counter(OrderSummaryView.objects.values_list("status", flat=True)) == {
        "confirmed": 20
    }
    # ...and each card was charged once: one successful provider charge per order,
    # of its amount, matching the order's Payment
    per_order = {order_id: provider_charges_of(order_id) for order_id in orders}
    doubled = {o: len(c) for o, c in per_order.items() if len(c) != 1}
    assert not doubled, f"orders not charged exactly once: {doubled}"
    amounts = Counter(
        FakeProviderCharge.objects.filter(succeeded=True).values_list(
            "amount", flat=True
        )
    )
    assert amounts == Counter(orders.values())
    for order_id, (charge,) in per_order.items():
        payment = Payment.objects.get(order_id=order_id)
        assert (payment.status, payment.amount, payment.charge_reference) == (
            "succeeded",
            orders[order_id],
            charge.reference,
        )
    assert Product.objects.get(sku="MUG").reserved == sum(range(1, 21))
    assert not DeadLetter.objects.exists()


def test_a_refusing_mail_server_parks_the_mail_and_the_order_still_confirms(
    start_workers,
):
    # given workers whose mail server refuses connections
    workers = start_workers(email_url=REFUSING_SMTP)
    customer_id = open_shop(("POSTER", "25.00", 5))
    # when an order is placed
    order_id = place(customer_id, ("POSTER", 1))
    # then the order is confirmed and rewarded all the same
    wait_until(
        lambda: settled([order_id]),
        "the order to settle",
        timeout=TIMEOUT,
        explain=flow_state,
    )
    assert saga_status(order_id) == "completed"
    assert summary_of(order_id)["status"] == "confirmed"
    # and its mail, tried max_attempts times with backoff, ends as the only dead letter
    attempts = registry.get("notifications").max_attempts
    wait_until(
        lambda: DeadLetter.objects.exists() and caught_up(),
        "the mail to be parked and every subscription to catch up",
        timeout=TIMEOUT,
        explain=flow_state,
    )
    letter = DeadLetter.objects.get()
    assert (letter.subscription, letter.type, letter.key, letter.attempts) == (
        "notifications",
        "orders.OrderConfirmed",
        str(order_id),
        attempts,
    )
    assert "ConnectionRefusedError" in letter.error
    where = f"notifications: orders.OrderConfirmed p{letter.partition}@{letter.offset}"
    for attempt in range(1, attempts):
        assert f"{where} failed (attempt {attempt} of {attempts})" in (
            workers.default.output
        )
    assert not Notification.objects.exists()  # each failed attempt released its claim
    assert PointEntry.objects.get(order_id=order_id).points == 25
