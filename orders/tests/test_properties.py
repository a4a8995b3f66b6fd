"""Properties of the Order, over histories hypothesis makes by driving the aggregate
through valid commands (no database):

* folding all events equals folding the tail onto a snapshot taken at any k, the
  snapshot going through JSON as the store keeps it, and the events going through their
  stored JSON too;
* a refused command records nothing and leaves the state as it was;
* every stored version of every orders event type upcasts to the current one.
"""

from __future__ import annotations

import json
import types
from decimal import Decimal
from typing import Any, Union, cast, get_args, get_origin
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from events.messages import Event, decode, registered_types
from orders import domain
from orders.contracts import Address, OrderLine, OrderPlaced
from orders.domain import MAX_LINES, MAX_QUANTITY, Order, OrderState, OrderStatus

SKUS = ("A", "B", "C", "D", "E", "F")
money = st.decimals(min_value=0, max_value=10_000, places=2)
texts = st.text(min_size=1, max_size=12).filter(str.strip)
ADDRESS = Address(name="N", line1="L", city="C", postal_code="P", country="FR")
CHECKS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# --- histories made by valid commands ---------------------------------------------


def _actions(order: Order) -> list[str]:
    """The commands that are valid for the order as it stands (incl. no-op repeats)."""
    state, actions = order.state, []
    open_items = state.status is OrderStatus.PLACED and not state.paid
    if open_items and _addable(state):
        actions.append("add")
    if open_items and state.item_count > 1:
        actions.append("remove")
    if state.status not in domain.CLOSED:
        actions.append("pay")  # the first time records, then the same payment no-ops
    # the provider's answers other than a payment: valid in every status (no-ops once
    # the payment has a stronger answer)
    actions += ["mark_payment_declined", "mark_payment_failed"]
    if state.status in (OrderStatus.PLACED, OrderStatus.CONFIRMED):
        actions += ["confirm", "cancel"]
    if state.status is OrderStatus.CONFIRMED:
        actions.append("ship")
    if state.status is OrderStatus.SHIPPED:
        actions += ["ship", "confirm"]  # repeats: no-ops
    if state.status is OrderStatus.PLACED:
        actions.append("reject")
    if state.status in domain.CLOSED:
        actions += ["reject", "cancel"]  # repeats: no-ops
    return actions


def _addable(state: OrderState) -> dict[str, int]:
    """SKU -> how many more units of it the order may take."""
    room = {}
    for sku in SKUS:
        line = state.line(sku)
        if line is None and len(state.lines) < MAX_LINES:
            room[sku] = MAX_QUANTITY
        elif line is not None and line.quantity < MAX_QUANTITY:
            room[sku] = MAX_QUANTITY - line.quantity
    return room


@st.composite
def histories(draw: st.DrawFn, max_steps: int = 60) -> tuple[Order, list[Event]]:
    """An order driven through a random run of valid commands, and what it recorded:
    up to ``max_steps`` item changes, then up to 10 more, no-op repeats included."""
    order = Order(draw(st.uuids()))
    prices = {sku: draw(money) for sku in SKUS}
    currency = draw(st.sampled_from(["EUR", "USD"]))
    chosen = draw(st.lists(st.sampled_from(SKUS), min_size=1, max_size=4, unique=True))
    order.place(
        customer_id=draw(st.uuids()),
        lines=[
            OrderLine(
                sku=sku,
                quantity=draw(st.integers(1, MAX_QUANTITY)),
                unit_price=prices[sku],
                currency=currency,
            )
            for sku in chosen
        ],
        shipping_address=ADDRESS,
        payment_method="card",
    )
    # first a run of item changes, then any valid commands (the lifecycle)
    changes = draw(st.integers(0, max_steps))
    for step in range(changes + 10):
        actions = _actions(order)
        if step < changes and {"add", "remove"} & set(actions):
            actions = [a for a in actions if a in ("add", "remove")]
        if not actions:
            break
        action = draw(st.sampled_from(actions))
        state = order.state
        if action == "add":
            room = _addable(state)
            sku = draw(st.sampled_from(sorted(room)))
            order.add_item(
                sku=sku,
                quantity=draw(st.integers(1, room[sku])),
                unit_price=draw(money),  # the catalogue moves; a line keeps its price
                currency=currency,
            )
        elif action == "remove":
            line = draw(st.sampled_from(state.lines))
            most = min(line.quantity, state.item_count - 1)
            order.remove_item(sku=line.sku, quantity=draw(st.integers(1, most)))
        elif action == "pay":
            paid = state.payment_reference or draw(texts)
            order.mark_paid(
                amount=state.amount_paid
                if state.paid and state.amount_paid is not None
                else state.total,
                currency=currency,
                payment_reference=paid,
            )
        elif action == "confirm":
            order.confirm()
        elif action == "ship":
            order.ship(tracking_number=state.tracking_number or draw(texts))
        else:
            getattr(order, action)(reason=draw(st.text(max_size=10)))
    return order, list(order.pending)


def fold(events: list[Event], state: OrderState | None = None) -> OrderState:
    state = OrderState() if state is None else state
    for event in events:
        state = Order.evolve(state, event)
    return state


def as_stored(event: Event) -> Event:
    """The event as the store gives it back: its JSON payload, decoded."""
    payload = json.loads(json.dumps(event.model_dump(mode="json")))
    return cast(Event, decode(event.wire_name, event.version, payload))


# --- snapshots --------------------------------------------------------------------


@CHECKS
@given(histories(), st.data())
def test_folding_the_tail_onto_a_snapshot_at_any_k_equals_folding_everything(
    history, data
):
    order, events = history
    # given the events as stored, and any point k
    stored = [as_stored(event) for event in events]
    assert stored == events
    k = data.draw(st.integers(0, len(events)), label="k")
    # when a snapshot is taken at k (through its JSON, as the store keeps it)
    snapshot = json.loads(json.dumps(fold(stored[:k]).model_dump(mode="json")))
    restored = OrderState.model_validate(snapshot)
    # then the snapshot is the state it was taken of
    assert restored == fold(stored[:k])
    # and folding the rest onto it is the whole fold, which is the live state
    assert fold(stored[k:], restored) == fold(stored) == order.state
    assert order.state.total == sum(
        (ln.unit_price * ln.quantity for ln in order.state.lines), Decimal(0)
    )


# --- refusals ---------------------------------------------------------------------


def _any_command(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """Any command an order might be sent, often one its rules refuse."""
    sku = draw(st.sampled_from((*SKUS, "ZZ")))
    quantity = draw(st.integers(-2, MAX_QUANTITY + 2))
    amount = draw(money)
    currency = draw(st.sampled_from(["EUR", "USD"]))
    commands: list[tuple[str, dict[str, Any]]] = [
        ("add_item", {"sku": sku, "quantity": quantity, "unit_price": amount}),
        ("remove_item", {"sku": sku, "quantity": quantity}),
        ("mark_paid", {"amount": amount, "payment_reference": draw(texts)}),
        ("confirm", {}),
        ("ship", {"tracking_number": draw(st.sampled_from(["T", " "]))}),
        ("reject", {"reason": "r"}),
        ("cancel", {"reason": "c"}),
    ]
    action, kwargs = draw(st.sampled_from(commands))
    if action in ("add_item", "mark_paid"):
        kwargs["currency"] = currency
    return action, kwargs


@CHECKS
@given(histories(max_steps=20), st.data())
def test_a_refused_command_records_nothing_and_changes_nothing(history, data):
    # given an order with some history
    order, events = history
    before, pending = order.state, list(order.pending)
    # when any command, valid or not, is tried
    action, kwargs = _any_command(data.draw)
    try:
        getattr(order, action)(**kwargs)
    except domain.DomainError:
        # then a refusal leaves no trace
        assert (order.state, order.pending) == (before, pending)
    else:
        # and an acceptance records at most one event, folded into the state
        new = order.pending[len(pending) :]
        assert len(new) <= 1
        assert fold(events + new) == order.state


# --- versions ---------------------------------------------------------------------


ORDER_EVENTS = sorted(
    (
        cls
        for cls in registered_types().values()
        if cls.topic == "orders" and issubclass(cls, Event)
    ),
    key=lambda cls: cls.wire_name,
)


def values_of(annotation: Any) -> st.SearchStrategy[Any]:
    """Arbitrary values of a message field's type (wider than the rules allow: the
    store must read back whatever a past version wrote)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        return st.one_of(*(values_of(arg) for arg in args))
    if origin is tuple:
        return st.lists(values_of(args[0]), max_size=3).map(tuple)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return instances_of(annotation)
    return {
        UUID: st.uuids(),
        str: st.text(max_size=12),
        int: st.integers(-(10**9), 10**9),
        bool: st.booleans(),
        Decimal: st.decimals(min_value=-(10**9), max_value=10**9, places=2),
        type(None): st.none(),
    }[annotation]


def instances_of(cls: type[BaseModel]) -> st.SearchStrategy[Any]:
    return st.builds(
        cls, **{name: values_of(f.annotation) for name, f in cls.model_fields.items()}
    )


class OrderLineV1(BaseModel):
    sku: str
    quantity: int
    unit_price: Decimal


class OrderPlacedV1(BaseModel):
    """orders.OrderPlaced as v1 wrote it: lines without a currency (all in EUR)."""

    order_id: UUID
    customer_id: UUID
    lines: tuple[OrderLineV1, ...]
    shipping_address: Address
    payment_method: str


def _placed_v1_in_v2(old: OrderPlacedV1) -> OrderPlaced:
    lines = tuple(OrderLine(**line.model_dump(), currency="EUR") for line in old.lines)
    return OrderPlaced(**{**old.model_dump(), "lines": lines})


# (wire name, stored version) -> (the old shape, what it must read as today)
HISTORIC: dict[tuple[str, int], tuple[type[BaseModel], Any]] = {
    ("orders.OrderPlaced", 1): (OrderPlacedV1, _placed_v1_in_v2),
}


def test_every_older_version_of_an_orders_event_has_a_historic_shape_here():
    # a version bump without a sample of the old shape here fails this test
    assert len(ORDER_EVENTS) == 12
    older = {(c.wire_name, v) for c in ORDER_EVENTS for v in range(1, c.version)}
    assert older == set(HISTORIC)


@pytest.mark.parametrize("cls", ORDER_EVENTS, ids=lambda cls: cls.wire_name)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_stored_version_of_every_event_type_reads_as_the_current_one(cls, data):
    # given an event stored at the current version, then it reads back equal
    event = data.draw(instances_of(cls), label="current")
    assert as_stored(event) == event
    # given payloads stored by each older version, then they read as the current one
    for version in range(1, cls.version):
        shape, expected = HISTORIC[(cls.wire_name, version)]
        old = data.draw(instances_of(shape), label=f"v{version}")
        payload = json.loads(old.model_dump_json())
        current = decode(cls.wire_name, version, payload)
        assert type(current) is cls and current == expected(old)
