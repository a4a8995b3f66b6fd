"""The Order's state and the pure fold of its events (``evolve``).

The state's JSON is the snapshot: change its shape and bump
``Order.snapshot_version``, so older snapshots are ignored instead of mis-read."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from events import Event

from ..contracts import (
    Address,
    ItemAdded,
    ItemRemoved,
    OrderCancelled,
    OrderConfirmed,
    OrderDispatchStarted,
    OrderLine,
    OrderPaid,
    OrderPaymentDeclined,
    OrderPaymentFailed,
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


class PaymentStatus(StrEnum):
    """What happened to the order's payment: ``pending`` until the provider answers,
    then ``paid``, ``declined`` (the card was refused), ``failed`` (no answer: the
    fulfilment gave up on the charge) or ``refunded``."""

    PENDING = "pending"
    PAID = "paid"
    DECLINED = "declined"
    FAILED = "failed"
    REFUNDED = "refunded"


def payment_after(current: PaymentStatus | str, event: Event) -> PaymentStatus:
    """The payment's status after ``event``, for the Order and its read model alike.

    Money that moved is the strongest fact: paid and refunded are never overwritten by
    a decline or a failure. A decline is more definite than a failure (the provider
    did answer), so it replaces one, never the other way round."""
    current = PaymentStatus(current)
    match event:
        case OrderPaid():
            return PaymentStatus.PAID
        case OrderRefunded():
            return PaymentStatus.REFUNDED
        case OrderPaymentDeclined():
            if current in (PaymentStatus.PAID, PaymentStatus.REFUNDED):
                return current
            return PaymentStatus.DECLINED
        case OrderPaymentFailed():
            if current is PaymentStatus.PENDING:
                return PaymentStatus.FAILED
    return current


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


CANCELLED_CODE = "cancelled"  # the reason code of every cancelled order


def reason_code_of(event: OrderRejected | OrderCancelled) -> str | None:
    """The stable code of why an order closed, for the Order and its read model."""
    if isinstance(event, OrderCancelled):
        return CANCELLED_CODE
    return event.reason_code or None


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
    reason: str | None = None  # why it was rejected or cancelled, in words
    reason_code: str | None = None  # the same as a stable code
    refunded: bool = False  # the payment was given back
    payment_status: PaymentStatus = PaymentStatus.PENDING
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
                    "payment_status": payment_after(state.payment_status, event),
                }
            )
        case OrderRefunded():
            return state.model_copy(
                update={
                    "refunded": True,
                    "payment_status": payment_after(state.payment_status, event),
                }
            )
        case OrderPaymentDeclined() | OrderPaymentFailed():
            return state.model_copy(
                update={"payment_status": payment_after(state.payment_status, event)}
            )
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
                update={
                    "status": OrderStatus.REJECTED,
                    "reason": event.reason,
                    "reason_code": reason_code_of(event),
                }
            )
        case OrderCancelled():
            return state.model_copy(
                update={
                    "status": OrderStatus.CANCELLED,
                    "reason": event.reason,
                    "reason_code": reason_code_of(event),
                }
            )
    return state  # an event type this version does not know changes nothing
