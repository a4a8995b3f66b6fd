"""Order commands through ``events.bus.execute``: the rules that need orders' views,
the events written to the stream, idempotent repeats, time travel (the query and
``manage.py orders show``), upcasting of stored rows and snapshots. SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from uuid import uuid4

from django.core.management import CommandError, call_command
from django.utils import timezone

import pytest

from events.commands import bus
from events.commands.registry import registry
from events.messages import Command
from events.models import LogEntry, Snapshot
from events.store import repository, streams
from orders import domain
from orders.contracts import (
    AddItem,
    Address,
    CancelOrder,
    ConfirmOrder,
    ItemAdded,
    MarkOrderPaid,
    OrderItem,
    OrderLine,
    OrderPlaced,
    PlaceOrder,
    RejectOrder,
    RemoveItem,
    ShipOrder,
)
from orders.domain import Order, OrderStatus
from orders.history import order_as_of
from orders.models import AvailabilityView, CustomerView

pytestmark = pytest.mark.django_db(transaction=True)

ADDRESS = Address(
    name="Ann", line1="1 Main St", city="Paris", postal_code="75001", country="FR"
)


@pytest.fixture
def customer_id():
    customer_id = uuid4()
    CustomerView.objects.create(
        customer_id=customer_id, email="ann@example.com", name="Ann"
    )
    return customer_id


@pytest.fixture(autouse=True)
def catalogue():
    """What orders' availability view says (normally fed by StockChanged)."""
    for sku, price, available in [("MUG", "9.50", 10), ("TEA", "4.00", 3)]:
        AvailabilityView.objects.create(
            sku=sku,
            name=sku.title(),
            price=Decimal(price),
            currency="EUR",
            available=available,
            updated_at=timezone.now(),
        )


def place(customer_id, *items, order_id=None, **overrides):
    command = PlaceOrder(
        order_id=order_id or uuid4(),
        customer_id=customer_id,
        items=tuple(OrderItem(sku=s, quantity=q) for s, q in items or [("MUG", 2)]),
        shipping_address=ADDRESS,
        payment_method="card",
        **overrides,
    )
    bus.execute(command)
    return command.order_id


def stream_types(order_id):
    return list(
        LogEntry.objects.filter(stream=Order.stream_for(order_id))
        .order_by("stream_version")
        .values_list("stream_version", "type")
    )


# --- placing ----------------------------------------------------------------------


def test_placing_an_order_writes_order_placed_priced_from_the_availability_view(
    customer_id,
):
    # given the availability view prices MUG at 9.50 and TEA at 4.00
    order_id = uuid4()
    # when a customer places an order
    _, published = bus.execute(
        PlaceOrder(
            order_id=order_id,
            customer_id=customer_id,
            items=(OrderItem(sku="MUG", quantity=2), OrderItem(sku="TEA", quantity=1)),
            shipping_address=ADDRESS,
            payment_method="card",
        )
    )
    # then OrderPlaced is version 1 of the order's stream, on the orders topic
    assert [(p.stream, p.stream_version) for p in published] == [
        (f"order-{order_id}", 1)
    ]
    row = LogEntry.objects.get(stream=f"order-{order_id}")
    assert (row.topic, row.type, row.version, row.key) == (
        "orders",
        "orders.OrderPlaced",
        2,
        str(order_id),
    )
    event = row.envelope().message()
    assert isinstance(event, OrderPlaced)
    assert event.lines == (
        OrderLine(sku="MUG", quantity=2, unit_price=Decimal("9.50"), currency="EUR"),
        OrderLine(sku="TEA", quantity=1, unit_price=Decimal("4.00"), currency="EUR"),
    )
    order = repository.load(Order, order_id)
    assert (order.state.status, order.state.total) == (
        OrderStatus.PLACED,
        Decimal("23.00"),
    )


def test_a_client_cannot_set_prices(customer_id):
    # given a request body that tries to set a price on an item
    command = PlaceOrder.model_validate(
        {
            "order_id": str(uuid4()),
            "customer_id": str(customer_id),
            "items": [{"sku": "MUG", "quantity": 1, "unit_price": "0.01"}],
            "shipping_address": ADDRESS.model_dump(),
            "payment_method": "card",
        }
    )
    # when it is placed
    bus.execute(command)
    # then the price is the catalogue's
    order = repository.load(Order, command.order_id)
    assert order.state.lines[0].unit_price == Decimal("9.50")


def test_placing_the_same_order_id_twice_is_an_error(customer_id):
    order_id = place(customer_id)
    with pytest.raises(domain.OrderAlreadyExistsError, match=str(order_id)):
        place(customer_id, ("TEA", 1), order_id=order_id)
    assert stream_types(order_id) == [(1, "orders.OrderPlaced")]


def test_an_unknown_or_deactivated_customer_cannot_order(customer_id):
    with pytest.raises(domain.UnknownCustomerError, match="is not known"):
        place(uuid4())
    # given staff deactivated the customer
    CustomerView.objects.filter(customer_id=customer_id).update(is_active=False)
    with pytest.raises(domain.InactiveCustomerError, match="deactivated"):
        place(customer_id)
    assert not LogEntry.objects.filter(topic="orders").exists()


def test_unknown_products_are_named(customer_id):
    with pytest.raises(domain.UnknownProductError) as caught:
        place(customer_id, ("MUG", 1), ("NOPE", 1), ("GONE", 2))
    assert caught.value.skus == ("GONE", "NOPE")
    assert str(caught.value) == "unknown product(s): GONE, NOPE"


def test_an_order_beyond_the_available_stock_names_each_shortage(customer_id):
    # given 10 MUG and 3 TEA available
    # when more than that is ordered
    with pytest.raises(domain.OutOfStockError) as caught:
        place(customer_id, ("MUG", 11), ("TEA", 3))
    # then the error names the SKU, what was wanted and what is available
    assert caught.value.shortages == (domain.Shortage("MUG", 11, 10),)
    assert "MUG (wanted 11, available 10)" in str(caught.value)
    # and the same SKU listed twice counts as one line
    with pytest.raises(domain.OutOfStockError, match="TEA .wanted 4, available 3"):
        place(customer_id, ("TEA", 2), ("TEA", 2))
    assert not LogEntry.objects.filter(topic="orders").exists()


@pytest.mark.parametrize(
    ("items", "error"),
    [
        ([], domain.EmptyOrderError),
        ([("MUG", 0)], domain.QuantityError),
        ([("MUG", 101)], domain.QuantityError),
    ],
)
def test_bad_quantities_are_refused_before_any_lookup(items, error):
    # an unknown customer: the quantity rule answers first
    with pytest.raises(error):
        bus.execute(
            PlaceOrder(
                order_id=uuid4(),
                customer_id=uuid4(),
                items=tuple(OrderItem(sku=s, quantity=q) for s, q in items),
                shipping_address=ADDRESS,
                payment_method="card",
            )
        )


# --- changing items ---------------------------------------------------------------


def test_adding_an_item_takes_its_price_from_the_view_and_checks_stock(customer_id):
    order_id = place(customer_id, ("MUG", 1))
    # when
    bus.execute(AddItem(order_id=order_id, sku="TEA", quantity=2))
    # then
    added = LogEntry.objects.get(stream=f"order-{order_id}", stream_version=2)
    assert added.envelope().message() == ItemAdded(
        order_id=order_id,
        sku="TEA",
        quantity=2,
        unit_price=Decimal("4.00"),
        currency="EUR",
    )
    with pytest.raises(domain.OutOfStockError, match="TEA .wanted 4, available 3"):
        bus.execute(AddItem(order_id=order_id, sku="TEA", quantity=4))
    with pytest.raises(domain.UnknownProductError, match="NOPE"):
        bus.execute(AddItem(order_id=order_id, sku="NOPE", quantity=1))
    with pytest.raises(domain.OrderNotFoundError):
        bus.execute(AddItem(order_id=uuid4(), sku="TEA", quantity=1))
    assert repository.load(Order, order_id).state.total == Decimal("17.50")


def test_removing_items_and_the_rules_on_it(customer_id):
    order_id = place(customer_id, ("MUG", 2), ("TEA", 1))
    bus.execute(RemoveItem(order_id=order_id, sku="MUG", quantity=1))
    bus.execute(RemoveItem(order_id=order_id, sku="TEA", quantity=1))
    with pytest.raises(domain.EmptyOrderError, match="cancel it instead"):
        bus.execute(RemoveItem(order_id=order_id, sku="MUG", quantity=1))
    with pytest.raises(domain.ItemNotInOrderError):
        bus.execute(RemoveItem(order_id=order_id, sku="TEA", quantity=1))
    order = repository.load(Order, order_id)
    assert [(ln.sku, ln.quantity) for ln in order.state.lines] == [("MUG", 1)]
    assert order.version == 3


def test_items_cannot_change_once_the_order_is_confirmed(customer_id):
    order_id = place(customer_id)
    bus.execute(ConfirmOrder(order_id=order_id))
    with pytest.raises(domain.InvalidTransitionError, match="it is confirmed"):
        bus.execute(AddItem(order_id=order_id, sku="NOPE", quantity=1))
    with pytest.raises(domain.InvalidTransitionError, match="it is confirmed"):
        bus.execute(RemoveItem(order_id=order_id, sku="MUG", quantity=1))


# --- the saga's commands ----------------------------------------------------------


def test_the_happy_path_and_its_late_duplicates_write_each_event_once(customer_id):
    # given a placed order of 2 MUG (19.00 EUR)
    order_id = place(customer_id)
    pay = MarkOrderPaid(
        order_id=order_id,
        amount=Decimal("19.00"),
        currency="EUR",
        payment_reference="pay-1",
    )
    # when the saga pays, confirms and ships it, and then sends each command again
    for command in [
        pay,
        ConfirmOrder(order_id=order_id),
        ShipOrder(order_id=order_id, tracking_number="T1"),
        pay,
        ConfirmOrder(order_id=order_id),
        ShipOrder(order_id=order_id, tracking_number="T1"),
    ]:
        bus.execute(command)
    # then each event is written once
    assert stream_types(order_id) == [
        (1, "orders.OrderPlaced"),
        (2, "orders.OrderPaid"),
        (3, "orders.OrderConfirmed"),
        (4, "orders.OrderShipped"),
    ]
    state = repository.load(Order, order_id).state
    assert (state.status, state.paid, state.tracking_number) == (
        OrderStatus.SHIPPED,
        True,
        "T1",
    )
    # and a shipped order cannot be cancelled
    with pytest.raises(domain.InvalidTransitionError, match="already shipped"):
        bus.execute(CancelOrder(order_id=order_id, reason="too late"))


def test_a_compensated_order_records_a_late_payment_and_ignores_repeated_closing(
    customer_id,
):
    order_id = place(customer_id)
    bus.execute(RejectOrder(order_id=order_id, reason="payment declined"))
    bus.execute(RejectOrder(order_id=order_id, reason="duplicate"))
    bus.execute(CancelOrder(order_id=order_id, reason="compensated"))
    # a charge that was in flight is a fact: recorded (the saga refunds it)
    bus.execute(
        MarkOrderPaid(
            order_id=order_id,
            amount=Decimal("19.00"),
            currency="EUR",
            payment_reference="late",
        )
    )
    with pytest.raises(domain.OrderClosedError, match="it is rejected"):
        bus.execute(ConfirmOrder(order_id=order_id))
    assert stream_types(order_id) == [
        (1, "orders.OrderPlaced"),
        (2, "orders.OrderRejected"),
        (3, "orders.OrderPaid"),
    ]
    assert repository.load(Order, order_id).state.reason == "payment declined"


def test_every_command_of_the_order_has_exactly_one_handler():
    from orders import contracts

    commands = {
        cls
        for cls in vars(contracts).values()
        if isinstance(cls, type) and issubclass(cls, Command) and cls is not Command
    }
    assert len(commands) == 11
    assert commands <= registry.in_process_types()


# --- versions, snapshots, time travel ---------------------------------------------


def test_a_stored_v1_order_placed_loads_as_v2(customer_id):
    # given an OrderPlaced row written by v1 code: no currency on its lines
    order_id = place(customer_id)
    row = LogEntry.objects.get(stream=f"order-{order_id}")
    payload = dict(row.payload)
    payload["lines"] = [
        {k: v for k, v in line.items() if k != "currency"} for line in payload["lines"]
    ]
    LogEntry.objects.filter(pk=row.pk).update(version=1, payload=payload)
    # when it is read
    event = LogEntry.objects.get(pk=row.pk).envelope().message()
    order = repository.load(Order, order_id)
    # then it is the current version, in euros
    assert isinstance(event, OrderPlaced)
    assert event.lines[0].currency == "EUR"
    assert (order.state.currency, order.state.total) == ("EUR", Decimal("19.00"))
    assert streams.history(order.stream)[0]["schema_version"] == 1


def test_snapshots_are_taken_per_settings_and_load_the_same_state(
    customer_id, settings
):
    # given a snapshot every 3 events of an order
    settings.EVENTS_SNAPSHOT_EVERY = {"order": 3}
    order_id = place(customer_id, ("MUG", 1))
    for _ in range(4):
        bus.execute(AddItem(order_id=order_id, sku="TEA", quantity=1))
        bus.execute(RemoveItem(order_id=order_id, sku="TEA", quantity=1))
    # then snapshots were taken at 3, 6 and 9 (nine events)
    stream = Order.stream_for(order_id)
    assert sorted(
        Snapshot.objects.filter(stream=stream).values_list("version", flat=True)
    ) == [3, 6, 9]
    # and loading with them equals folding every event
    with_snapshots = repository.load(Order, order_id)
    folded = repository.load(Order, order_id, use_snapshots=False)
    assert (with_snapshots.version, with_snapshots.state) == (9, folded.state)
    # and an order as of a past version uses an older snapshot, not a newer one
    assert repository.load(Order, order_id, upto_version=4).state.item_count == 2


def _placed_then_paid_an_hour_later(customer_id):
    """An order placed now, paid and confirmed 'an hour later' (recorded_at moved)."""
    order_id = place(customer_id)
    bus.execute(
        MarkOrderPaid(
            order_id=order_id,
            amount=Decimal("19.00"),
            currency="EUR",
            payment_reference="pay-1",
        )
    )
    bus.execute(ConfirmOrder(order_id=order_id))
    later = timezone.now() + timedelta(hours=1)
    LogEntry.objects.filter(
        stream=Order.stream_for(order_id), stream_version__gt=1
    ).update(recorded_at=later)
    return order_id, timezone.now() + timedelta(minutes=1)


def test_an_order_loads_as_of_a_past_time(customer_id):
    # given an order placed, then paid and confirmed later
    order_id, between = _placed_then_paid_an_hour_later(customer_id)
    # when it is read as of a time in between
    state, events = order_as_of(order_id, between)
    # then it is placed and unpaid, with only its first event
    assert (state["status"], state["paid"], state["version"]) == ("placed", False, 1)
    assert [e["type"] for e in events] == ["orders.OrderPlaced"]
    # and now it is confirmed, with all three
    state, events = order_as_of(order_id)
    assert (state["status"], state["paid"], state["total"]) == (
        "confirmed",
        True,
        "19.00",
    )
    assert [e["version"] for e in events] == [1, 2, 3]
    # and before it was placed it did not exist
    with pytest.raises(domain.OrderNotFoundError, match="as of"):
        order_as_of(order_id, timezone.now() - timedelta(days=1))


def show(*args):
    out = StringIO()
    call_command("orders", "show", *args, stdout=out)
    return out.getvalue()


def test_orders_show_prints_state_and_history_as_a_table_or_json(customer_id):
    order_id, between = _placed_then_paid_an_hour_later(customer_id)
    # when shown now, as a table
    text = show(str(order_id))
    # then it has the state, the lines and each event
    assert f"order {order_id} now (version 3)" in text
    assert "status     confirmed" in text
    assert "MUG" in text and "19.00" in text
    assert "OrderPlaced" in text and "OrderConfirmed" in text
    # when shown as of the time in between, as JSON
    document = json.loads(show(str(order_id), "--as-of", between.isoformat(), "--json"))
    # then it is the order as it was
    assert document["state"]["status"] == "placed"
    assert [e["type"] for e in document["events"]] == ["orders.OrderPlaced"]
    assert document["events"][0]["data"]["lines"][0]["unit_price"] == "9.50"
    # and a recorded time copied from the output finds that very event
    recorded = document["events"][0]["recorded_at"]
    again = json.loads(show(str(order_id), "--as-of", recorded, "--json"))
    assert again["state"]["version"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["not-a-uuid"], "not an order id"),
        ([str(uuid4()), "--as-of", "yesterday"], "not an ISO 8601 time"),
        ([str(uuid4())], "does not exist"),
    ],
)
def test_orders_show_fails_clearly(args, message):
    with pytest.raises(CommandError, match=message):
        show(*args)
