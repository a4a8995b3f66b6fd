"""The Order's state and the pure fold of its events (``evolve``).

The state's JSON is the snapshot: change its shape and bump
``Order.snapshot_version``, so older snapshots are ignored instead of mis-read."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from events.messages import Event

from ..contracts import (
    Address,
    ItemAdded,
    ItemRemoved,
    OrderCancelled,
    OrderConfirmed,
    OrderDispatchStarted,
    OrderLine,
    OrderPaid,
    OrderPlaced,
    OrderRefunded,
    OrderRejected,
    OrderShipped,
)


class OrderStatus(StrEnum):
    PLACED = "placed"
    CONFIRMED = "confirmed"
    SHIPPED = "shipped"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


CLOSED = frozenset({OrderStatus.REJECTED, OrderStatus.CANCELLED})


def shipment_status(
    status: OrderStatus | str | None, tracking_number: str | None
) -> str:
    """The order's view of its shipment: "none" before one exists, "created" once the
    fulfilment confirmed it with a tracking number, "shipped", or "cancelled" with the
    order (the saga cancels it)."""
    if status == OrderStatus.SHIPPED:
        return "shipped"
    if not tracking_number:
        return "none"
    return "cancelled" if status == OrderStatus.CANCELLED else "created"


class OrderState(BaseModel):
    """The order as its events leave it; its JSON is the snapshot."""

    model_config = ConfigDict(frozen=True)

    status: OrderStatus | None = None  # None: never placed
    customer_id: UUID | None = None
    lines: tuple[OrderLine, ...] = ()
    currency: str | None = None
    total: Decimal = Decimal("0")
    item_count: int = 0
    shipping_address: Address | None = None
    payment_method: str | None = None
    paid: bool = False
    amount_paid: Decimal | None = None
    payment_reference: str | None = None
    tracking_number: str | None = None
    reason: str | None = None  # why it was rejected or cancelled
    refunded: bool = False  # the payment was given back
    dispatching: bool = False  # staff started the dispatch: no cancelling any more

    def line(self, sku: str) -> OrderLine | None:
        return next((line for line in self.lines if line.sku == sku), None)


def _with_lines(state: OrderState, lines: Iterable[OrderLine]) -> OrderState:
    kept = tuple(line for line in lines if line.quantity > 0)
    return state.model_copy(
        update={
            "lines": kept,
            "total": sum((ln.unit_price * ln.quantity for ln in kept), Decimal("0")),
            "item_count": sum(line.quantity for line in kept),
        }
    )


def evolve(state: OrderState, event: Event) -> OrderState:
    """The state after ``event``: pure, and it never refuses a stored event."""
    match event:
        case OrderPlaced():
            placed = state.model_copy(
                update={
                    "status": OrderStatus.PLACED,
                    "customer_id": event.customer_id,
                    "currency": event.lines[0].currency if event.lines else None,
                    "shipping_address": event.shipping_address,
                    "payment_method": event.payment_method,
                }
            )
            return _with_lines(placed, event.lines)
        case ItemAdded():
            existing = state.line(event.sku)
            if existing is None:
                added = OrderLine(
                    sku=event.sku,
                    quantity=event.quantity,
                    unit_price=event.unit_price,
                    currency=event.currency,
                )
                return _with_lines(state, (*state.lines, added))
            grown = existing.model_copy(
                update={"quantity": existing.quantity + event.quantity}
            )
            return _with_lines(
                state, (grown if ln.sku == event.sku else ln for ln in state.lines)
            )
        case ItemRemoved():
            return _with_lines(
                state,
                (
                    ln.model_copy(update={"quantity": ln.quantity - event.quantity})
                    if ln.sku == event.sku
                    else ln
                    for ln in state.lines
                ),
            )
        case OrderPaid():
            return state.model_copy(
                update={
                    "paid": True,
                    "amount_paid": event.amount,
                    "payment_reference": event.payment_reference,
                }
            )
        case OrderRefunded():
            return state.model_copy(update={"refunded": True})
        case OrderConfirmed():
            return state.model_copy(
                update={
                    "status": OrderStatus.CONFIRMED,
                    "tracking_number": event.tracking_number or state.tracking_number,
                }
            )
        case OrderDispatchStarted():
            return state.model_copy(update={"dispatching": True})
        case OrderShipped():
            return state.model_copy(
                update={
                    "status": OrderStatus.SHIPPED,
                    "tracking_number": event.tracking_number,
                }
            )
        case OrderRejected():
            return state.model_copy(
                update={"status": OrderStatus.REJECTED, "reason": event.reason}
            )
        case OrderCancelled():
            return state.model_copy(
                update={"status": OrderStatus.CANCELLED, "reason": event.reason}
            )
    return state  # an event type this version does not know changes nothing
