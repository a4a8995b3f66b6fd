"""The Order's rules, pure: given past events, when a command, then new events (or an
error and nothing recorded). No database."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

from events.messages import Event
from orders import domain
from orders.contracts import (
    Address,
    ItemAdded,
    ItemRemoved,
    OrderCancelled,
    OrderConfirmed,
    OrderDispatchStarted,
    OrderItem,
    OrderLine,
    OrderPaid,
    OrderPlaced,
    OrderRefunded,
    OrderRejected,
    OrderShipped,
)
from orders.domain import Order, OrderStatus
from orders.domain.state import shipment_status

ORDER_ID = UUID("00000000-0000-0000-0000-0000000000a1")
CUSTOMER_ID = UUID("00000000-0000-0000-0000-0000000000c1")
ADDRESS = Address(
    name="Ann", line1="1 Main St", city="Paris", postal_code="75001", country="FR"
)


def line(sku: str = "MUG", quantity: int = 2, price: str = "9.50") -> OrderLine:
    return OrderLine(
        sku=sku, quantity=quantity, unit_price=Decimal(price), currency="EUR"
    )


def placed(*lines: OrderLine) -> OrderPlaced:
    lines = lines or (line(),)
    return OrderPlaced(
        order_id=ORDER_ID,
        customer_id=CUSTOMER_ID,
        lines=lines,
        shipping_address=ADDRESS,
        payment_method="card",
        amount=sum(ln.quantity * ln.unit_price for ln in lines),
        currency=lines[0].currency,
    )


def paid(amount: str = "19.00", reference: str = "pay-1") -> OrderPaid:
    return OrderPaid(
        order_id=ORDER_ID,
        amount=Decimal(amount),
        currency="EUR",
        payment_reference=reference,
    )


def given(*events: Event) -> Order:
    order = Order(ORDER_ID)
    order.fold(events)
    return order


def refused(order: Order, error: type[Exception], match: str, **call: Any):
    """Run ``order.<action>(**kwargs)`` expecting ``error``; nothing may be recorded."""
    action, kwargs = call.pop("action"), call
    state, pending = order.state, list(order.pending)
    with pytest.raises(error, match=match):
        getattr(order, action)(**kwargs)
    assert order.pending == pending and order.state == state


# --- placing ----------------------------------------------------------------------


def test_placing_records_the_priced_lines_and_totals_them():
    # given a new order
    order = given()
    # when it is placed with two lines
    order.place(
        customer_id=CUSTOMER_ID,
        lines=[line("MUG", 2, "9.50"), line("TEA", 3, "4.00")],
        shipping_address=ADDRESS,
        payment_method="card",
    )
    # then OrderPlaced is recorded and the state totals the lines
    assert order.pending == [placed(line("MUG", 2, "9.50"), line("TEA", 3, "4.00"))]
    assert order.state.status is OrderStatus.PLACED
    assert (order.state.total, order.state.currency) == (Decimal("31.00"), "EUR")
    assert order.state.item_count == 5


def test_an_order_cannot_be_placed_twice():
    refused(
        given(placed()),
        domain.OrderAlreadyExistsError,
        "already exists",
        action="place",
        customer_id=CUSTOMER_ID,
        lines=[line()],
        shipping_address=ADDRESS,
        payment_method="card",
    )


@pytest.mark.parametrize(
    ("lines", "error", "match"),
    [
        ([], domain.EmptyOrderError, "at least one item"),
        ([line(quantity=0)], domain.QuantityError, "between 1 and 100"),
        ([line(quantity=101)], domain.QuantityError, "between 1 and 100"),
        ([line(quantity=-1)], domain.QuantityError, "between 1 and 100"),
        (
            [line(f"S{i}", 1) for i in range(domain.MAX_LINES + 1)],
            domain.TooManyLinesError,
            "at most 50",
        ),
        (
            [line("A"), line("B").model_copy(update={"currency": "USD"})],
            domain.CurrencyMismatchError,
            "EUR, USD",
        ),
    ],
)
def test_placing_refuses_bad_lines(lines, error, match):
    refused(
        given(),
        error,
        match,
        action="place",
        customer_id=CUSTOMER_ID,
        lines=lines,
        shipping_address=ADDRESS,
        payment_method="card",
    )


def test_placing_needs_an_address_and_a_payment_method():
    order = given()
    refused(
        order,
        domain.MissingDetailError,
        "shipping_address.city must not be blank",
        action="place",
        customer_id=CUSTOMER_ID,
        lines=[line()],
        shipping_address=ADDRESS.model_copy(update={"city": "  "}),
        payment_method="card",
    )
    refused(
        order,
        domain.MissingDetailError,
        "payment_method",
        action="place",
        customer_id=CUSTOMER_ID,
        lines=[line()],
        shipping_address=ADDRESS,
        payment_method="",
    )


def test_items_of_a_new_order_are_merged_per_sku_and_bounded():
    # when the same SKU is asked for twice
    items = domain.merge_items(
        [
            OrderItem(sku="A", quantity=60),
            OrderItem(sku="B", quantity=1),
            OrderItem(sku="A", quantity=40),
        ]
    )
    # then it is one line with the sum, in first-seen order
    assert items == (OrderItem(sku="A", quantity=100), OrderItem(sku="B", quantity=1))
    # and the sum is bounded like any line
    with pytest.raises(
        domain.QuantityError, match="quantity 200 of A: must be between 1 and 100"
    ):
        domain.merge_items([OrderItem(sku="A", quantity=100)] * 2)


def test_commands_on_an_order_never_placed_are_not_found():
    calls: list[tuple[str, dict[str, Any]]] = [
        ("add_item", {"sku": "A", "quantity": 1, "unit_price": 1, "currency": "EUR"}),
        ("remove_item", {"sku": "A", "quantity": 1}),
        ("confirm", {}),
        ("ship", {"tracking_number": "T1"}),
        ("reject", {"reason": "x"}),
        ("cancel", {"reason": "x"}),
        (
            "mark_paid",
            {"amount": Decimal(1), "currency": "EUR", "payment_reference": "p"},
        ),
    ]
    for action, kwargs in calls:
        refused(
            given(),
            domain.OrderNotFoundError,
            "does not exist",
            action=action,
            **kwargs,
        )


# --- changing items ---------------------------------------------------------------


def test_adding_a_new_sku_adds_a_line_at_the_given_price():
    order = given(placed(line("MUG", 2, "9.50")))
    # when
    order.add_item(sku="TEA", quantity=1, unit_price=Decimal("4.00"), currency="EUR")
    # then
    assert order.pending == [
        ItemAdded(
            order_id=ORDER_ID,
            sku="TEA",
            quantity=1,
            unit_price=Decimal("4.00"),
            currency="EUR",
        )
    ]
    assert order.state.total == Decimal("23.00")
    assert [ln.sku for ln in order.state.lines] == ["MUG", "TEA"]


def test_adding_more_of_a_sku_keeps_the_price_its_line_was_quoted_at():
    order = given(placed(line("MUG", 2, "9.50")))
    # when the catalogue price has gone up since
    order.add_item(sku="MUG", quantity=1, unit_price=Decimal("12.00"), currency="EUR")
    # then the units are added at the line's price
    added = order.pending[0]
    assert isinstance(added, ItemAdded) and added.unit_price == Decimal("9.50")
    assert order.state.lines == (line("MUG", 3, "9.50"),)
    assert order.state.total == Decimal("28.50")


def test_a_line_holds_at_most_100_units():
    order = given(placed(line("MUG", 95)))
    refused(
        order,
        domain.QuantityError,
        "already has 95, at most 100",
        action="add_item",
        sku="MUG",
        quantity=6,
        unit_price=Decimal("9.50"),
        currency="EUR",
    )
    order.add_item(sku="MUG", quantity=5, unit_price=Decimal("9.50"), currency="EUR")
    assert order.state.lines[0].quantity == 100


def test_an_item_in_another_currency_is_refused():
    refused(
        given(placed()),
        domain.CurrencyMismatchError,
        "priced in USD, the order in EUR",
        action="add_item",
        sku="TEA",
        quantity=1,
        unit_price=Decimal(1),
        currency="USD",
    )


def test_removing_some_units_then_a_whole_line():
    order = given(placed(line("MUG", 2), line("TEA", 3, "4.00")))
    # when
    order.remove_item(sku="TEA", quantity=1)
    order.remove_item(sku="MUG", quantity=2)
    # then
    assert order.pending == [
        ItemRemoved(order_id=ORDER_ID, sku="TEA", quantity=1),
        ItemRemoved(order_id=ORDER_ID, sku="MUG", quantity=2),
    ]
    assert order.state.lines == (line("TEA", 2, "4.00"),)
    assert order.state.total == Decimal("8.00")


def test_removing_refuses_unknown_skus_too_many_units_and_an_empty_order():
    order = given(placed(line("MUG", 2)))
    refused(
        order,
        domain.ItemNotInOrderError,
        "has no TEA",
        action="remove_item",
        sku="TEA",
        quantity=1,
    )
    refused(
        order,
        domain.QuantityError,
        "has only 2",
        action="remove_item",
        sku="MUG",
        quantity=3,
    )
    refused(
        order,
        domain.QuantityError,
        "between 1",
        action="remove_item",
        sku="MUG",
        quantity=0,
    )
    refused(
        order,
        domain.EmptyOrderError,
        "cancel it instead",
        action="remove_item",
        sku="MUG",
        quantity=2,
    )


@pytest.mark.parametrize(
    ("past", "error", "match"),
    [
        (
            (OrderConfirmed(order_id=ORDER_ID),),
            domain.InvalidTransitionError,
            "confirmed",
        ),
        ((paid(),), domain.InvalidTransitionError, "it is paid"),
        (
            (OrderCancelled(order_id=ORDER_ID, reason="x"),),
            domain.OrderClosedError,
            "cancelled",
        ),
        (
            (OrderRejected(order_id=ORDER_ID, reason="x"),),
            domain.OrderClosedError,
            "rejected",
        ),
    ],
)
def test_items_are_final_once_confirmed_paid_or_closed(past, error, match):
    order = given(placed(line("MUG", 2)), *past)
    refused(
        order,
        error,
        match,
        action="add_item",
        sku="TEA",
        quantity=1,
        unit_price=Decimal(1),
        currency="EUR",
    )
    refused(order, error, match, action="remove_item", sku="MUG", quantity=1)


# --- payment ----------------------------------------------------------------------


def test_paying_the_total_marks_the_order_paid():
    order = given(placed(line("MUG", 2, "9.50")))
    # when
    order.mark_paid(amount=Decimal("19.00"), currency="EUR", payment_reference="pay-1")
    # then
    assert order.pending == [paid("19.00", "pay-1")]
    assert order.state.paid and order.state.payment_reference == "pay-1"


def test_the_same_payment_again_is_a_no_op_and_another_one_an_error():
    order = given(placed(line("MUG", 2, "9.50")), paid("19.00", "pay-1"))
    # when the same payment is reported again, then nothing is recorded
    order.mark_paid(amount=Decimal("19.00"), currency="EUR", payment_reference="pay-1")
    assert order.pending == []
    # when a different payment arrives, then it is refused (the saga refunds it)
    refused(
        order,
        domain.AlreadyPaidError,
        "already paid .reference pay-1., not by pay-2",
        action="mark_paid",
        amount=Decimal("19.00"),
        currency="EUR",
        payment_reference="pay-2",
    )


def test_a_payment_must_match_the_total_and_is_recorded_even_once_closed():
    order = given(placed(line("MUG", 2, "9.50")))
    refused(
        order,
        domain.PaymentMismatchError,
        "totals 19.00 EUR, the payment is 18.00 EUR",
        action="mark_paid",
        amount=Decimal("18.00"),
        currency="EUR",
        payment_reference="p",
    )
    # a charge that was in flight when the order was cancelled: the money moved
    cancelled = given(placed(), OrderCancelled(order_id=ORDER_ID, reason="x"))
    cancelled.mark_paid(amount=Decimal("19.00"), currency="EUR", payment_reference="p")
    assert cancelled.state.paid and cancelled.state.status is OrderStatus.CANCELLED


# --- confirming, shipping ---------------------------------------------------------


def test_confirming_is_recorded_once_and_repeated_confirms_are_no_ops():
    order = given(placed())
    order.confirm()
    order.confirm()
    assert order.pending == [OrderConfirmed(order_id=ORDER_ID)]
    shipped = given(
        placed(),
        OrderConfirmed(order_id=ORDER_ID),
        OrderShipped(order_id=ORDER_ID, tracking_number="T1"),
    )
    shipped.confirm()
    assert shipped.pending == [] and shipped.state.status is OrderStatus.SHIPPED


def test_a_closed_order_cannot_be_confirmed():
    refused(
        given(placed(), OrderRejected(order_id=ORDER_ID, reason="no stock")),
        domain.OrderClosedError,
        "it is rejected",
        action="confirm",
    )


def test_shipping_needs_a_confirmed_order_and_is_idempotent_per_tracking_number():
    # given a placed order, shipping is refused
    refused(
        given(placed()),
        domain.InvalidTransitionError,
        "not confirmed yet",
        action="ship",
        tracking_number="T1",
    )
    # given a confirmed order, when shipped twice with one number
    order = given(placed(), OrderConfirmed(order_id=ORDER_ID))
    order.ship(tracking_number="T1")
    order.ship(tracking_number="T1")
    # then it is recorded once, and another number is refused
    assert order.pending == [OrderShipped(order_id=ORDER_ID, tracking_number="T1")]
    assert order.state.tracking_number == "T1"
    refused(
        order,
        domain.InvalidTransitionError,
        "already shipped with tracking number T1",
        action="ship",
        tracking_number="T2",
    )
    refused(
        order,
        domain.MissingDetailError,
        "tracking_number",
        action="ship",
        tracking_number=" ",
    )


# --- rejecting, cancelling --------------------------------------------------------


def test_rejecting_a_placed_order_and_then_again_is_a_no_op():
    order = given(placed())
    order.reject(reason="payment declined")
    order.reject(reason="late duplicate")
    order.cancel(reason="saga compensated")
    assert order.pending == [
        OrderRejected(order_id=ORDER_ID, reason="payment declined")
    ]
    assert (order.state.status, order.state.reason) == (
        OrderStatus.REJECTED,
        "payment declined",
    )


def test_a_confirmed_order_cannot_be_rejected():
    refused(
        given(placed(), OrderConfirmed(order_id=ORDER_ID)),
        domain.InvalidTransitionError,
        "already confirmed",
        action="reject",
        reason="x",
    )


@pytest.mark.parametrize(
    "past",
    [(), (OrderConfirmed(order_id=ORDER_ID),), (paid(),)],
    ids=["placed", "confirmed", "paid"],
)
def test_an_order_can_be_cancelled_until_it_ships(past):
    order = given(placed(), *past)
    order.cancel(reason="changed my mind")
    order.cancel(reason="again")
    assert order.pending == [
        OrderCancelled(order_id=ORDER_ID, reason="changed my mind")
    ]
    assert order.state.status is OrderStatus.CANCELLED


def test_a_shipped_order_cannot_be_cancelled():
    refused(
        given(
            placed(),
            OrderConfirmed(order_id=ORDER_ID),
            OrderShipped(order_id=ORDER_ID, tracking_number="T1"),
        ),
        domain.InvalidTransitionError,
        "cannot cancel order .*: it has already shipped",
        action="cancel",
        reason="too late",
    )


# --- the fold ---------------------------------------------------------------------


def test_the_fold_never_refuses_a_stored_event():
    # given events the rules would not produce today (e.g. written by older code)
    order = given(
        placed(line("MUG", 1)),
        ItemRemoved(order_id=ORDER_ID, sku="NOPE", quantity=1),
        ItemRemoved(order_id=ORDER_ID, sku="MUG", quantity=5),
    )
    # then the state is still well formed
    assert order.state.lines == () and order.state.total == 0
    assert order.version == 3


def test_a_new_order_id_starts_with_an_empty_state():
    order = Order(uuid4())
    assert not order.exists and order.state == domain.OrderState()
    assert order.stream == f"order-{order.id}"


def test_starting_the_dispatch_is_recorded_once_and_then_no_cancel_is_accepted():
    # given a confirmed order
    order = given(placed(), OrderConfirmed(order_id=ORDER_ID))
    # when staff start its dispatch, twice
    order.start_dispatch()
    order.start_dispatch()
    # then it is recorded once, and the customer can no longer cancel
    assert order.pending == [OrderDispatchStarted(order_id=ORDER_ID)]
    refused(
        order,
        domain.InvalidTransitionError,
        "cannot cancel order .*: it is being dispatched",
        action="cancel",
        reason="too late",
    )


@pytest.mark.parametrize(
    "past, match",
    [
        ((), "it is not confirmed yet"),
        ((OrderCancelled(order_id=ORDER_ID, reason="no"),), "it is cancelled"),
    ],
    ids=["placed", "cancelled"],
)
def test_only_a_confirmed_order_can_start_its_dispatch(past, match):
    refused(
        given(placed(), *past),
        domain.InvalidTransitionError,
        f"cannot dispatch order .*: {match}",
        action="start_dispatch",
    )


def test_a_refund_is_recorded_once_and_only_for_a_paid_order():
    # given a paid, then cancelled order
    order = given(placed(), paid(), OrderCancelled(order_id=ORDER_ID, reason="no"))
    # when the refund is recorded twice
    for _ in range(2):
        order.mark_refunded(
            amount=Decimal("19.00"), currency="EUR", refund_reference="re-1"
        )
    # then once
    assert order.pending == [
        OrderRefunded(
            order_id=ORDER_ID,
            amount=Decimal("19.00"),
            currency="EUR",
            refund_reference="re-1",
        )
    ]
    assert order.state.refunded
    # and an order never paid records no refund (of nothing)
    unpaid = given(placed())
    unpaid.mark_refunded(amount=Decimal("0.00"), currency="EUR", refund_reference="")
    assert unpaid.pending == []


def test_a_confirmation_carries_the_shipments_tracking_number():
    order = given(placed())
    order.confirm(tracking_number="TRK1")
    assert order.pending == [OrderConfirmed(order_id=ORDER_ID, tracking_number="TRK1")]
    assert order.state.tracking_number == "TRK1"
    assert shipment_status(order.state.status, order.state.tracking_number) == (
        "created"
    )
    order.cancel(reason="changed my mind")
    assert shipment_status(order.state.status, order.state.tracking_number) == (
        "cancelled"
    )
    assert shipment_status(OrderStatus.PLACED, None) == "none"
