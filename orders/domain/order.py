"""The event-sourced Order and its rules.

No Django and no I/O here beyond the Aggregate base: handlers look things up (the
customer, the catalogue's prices and stock) and pass plain values in; the methods
decide and ``record`` events, or raise a :class:`DomainError` and record nothing.

Lifecycle: ``placed -> confirmed -> shipped``; ``placed -> rejected``; ``placed |
confirmed -> cancelled``. Payment is a flag beside the status (recorded in placed,
confirmed or shipped; a confirmation does not wait for it, so invoice-like methods fit).

The saga sends late and duplicate commands, so a command whose outcome already holds
is an idempotent no-op (it records nothing): confirming a confirmed or shipped order,
shipping again with the same tracking number, recording the same payment again,
cancelling or rejecting an order that is already cancelled or rejected. A command
that contradicts what happened is an error the sender must act on: confirming a
cancelled order (the saga undoes), a second, different payment, shipping with another
tracking number, cancelling a shipped order. A payment is a fact, not a request: it is
recorded even on a cancelled order (its charge was in flight), and so is its refund.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from uuid import UUID

from events import Aggregate

from ..contracts import (
    Address,
    ItemAdded,
    ItemRemoved,
    OrderCancelled,
    OrderConfirmed,
    OrderDispatchStarted,
    OrderItem,
    OrderLine,
    OrderPaid,
    OrderPaymentDeclined,
    OrderPaymentFailed,
    OrderPlaced,
    OrderRefunded,
    OrderRejected,
    OrderShipped,
)
from .errors import (
    AlreadyPaidError,
    CurrencyMismatchError,
    EmptyOrderError,
    InvalidTransitionError,
    ItemNotInOrderError,
    MissingDetailError,
    OrderAlreadyExistsError,
    OrderClosedError,
    OrderNotFoundError,
    PaymentMismatchError,
    QuantityError,
    TooManyLinesError,
)
from .state import CLOSED, OrderState, OrderStatus, PaymentStatus, evolve

MAX_QUANTITY = 100  # units of one SKU in one order (a line), and in one command
MAX_LINES = 50  # distinct SKUs in one order


def check_quantity(sku: str, quantity: int) -> None:
    if not 1 <= quantity <= MAX_QUANTITY:
        raise QuantityError(sku, quantity, f"must be between 1 and {MAX_QUANTITY}")


def merge_items(items: Iterable[OrderItem]) -> tuple[OrderItem, ...]:
    """The items of a new order, one per SKU (in first-seen order), checked: at least
    one, at most MAX_LINES SKUs, each quantity in 1..MAX_QUANTITY."""
    totals: dict[str, int] = {}
    for item in items:
        check_quantity(item.sku, item.quantity)
        totals[item.sku] = totals.get(item.sku, 0) + item.quantity
    if not totals:
        raise EmptyOrderError("an order needs at least one item")
    if len(totals) > MAX_LINES:
        raise TooManyLinesError(f"an order has at most {MAX_LINES} different items")
    for sku, quantity in totals.items():
        check_quantity(sku, quantity)
    return tuple(OrderItem(sku=sku, quantity=q) for sku, q in totals.items())


def _check_address(address: Address) -> None:
    for name in ("name", "line1", "city", "postal_code", "country"):
        if not getattr(address, name).strip():
            raise MissingDetailError(f"shipping_address.{name}")


class Order(Aggregate[OrderState]):
    """One order's stream, ``order-<id>``."""

    stream_prefix = "order"
    State = OrderState
    snapshot_every = 50  # EVENTS_SNAPSHOT_EVERY = {"order": n} overrides it
    # 2: the state has ``dispatching``; 3: ``refunded``; 4: ``payment_status``;
    # 5: ``reason_code``
    snapshot_version = 5

    evolve = staticmethod(evolve)

    @property
    def exists(self) -> bool:
        return self.state.status is not None

    @property
    def status(self) -> OrderStatus:
        if self.state.status is None:
            raise OrderNotFoundError(self.id)
        return self.state.status

    def place(
        self,
        *,
        customer_id: UUID,
        lines: Sequence[OrderLine],
        shipping_address: Address,
        payment_method: str,
    ) -> None:
        """Lines come priced from the catalogue, one per SKU, in one currency."""
        if self.exists:
            raise OrderAlreadyExistsError(self.id)
        merged = merge_items(
            OrderItem(sku=ln.sku, quantity=ln.quantity) for ln in lines
        )
        if len(merged) != len(lines):
            raise ValueError("place() takes one line per SKU (merge_items first)")
        currencies = sorted({line.currency for line in lines})
        if len(currencies) > 1:
            raise CurrencyMismatchError(
                f"an order is priced in one currency, got {', '.join(currencies)}"
            )
        if any(line.unit_price < 0 for line in lines):
            raise ValueError("a unit price is never negative")
        _check_address(shipping_address)
        if not payment_method.strip():
            raise MissingDetailError("payment_method")
        self.record(
            OrderPlaced(
                order_id=self.id,
                customer_id=customer_id,
                lines=tuple(lines),
                shipping_address=shipping_address,
                payment_method=payment_method,
                amount=sum(line.quantity * line.unit_price for line in lines),
                currency=lines[0].currency,
            )
        )

    def check_items_can_change(self, action: str = "change the items of") -> None:
        """Items change only while the order is placed and unpaid (after that the
        charged amount and the fulfilment would no longer match the lines)."""
        status = self.status
        if status in CLOSED:
            raise OrderClosedError(self.id, status, action)
        if status is not OrderStatus.PLACED:
            raise InvalidTransitionError(
                self.id, status, action, f"it is {status}: its items are final"
            )
        if self.state.paid:
            raise InvalidTransitionError(
                self.id, status, action, "it is paid: its items are final"
            )

    def add_item(
        self, *, sku: str, quantity: int, unit_price: Decimal, currency: str
    ) -> None:
        """Add units at the catalogue's price; a SKU already in the order keeps the
        price its line was first added at (the price the customer was quoted)."""
        self.check_items_can_change("add items to")
        check_quantity(sku, quantity)
        if currency != self.state.currency:
            raise CurrencyMismatchError(
                f"{sku} is priced in {currency}, the order in {self.state.currency}"
            )
        line = self.state.line(sku)
        if line is None:
            if len(self.state.lines) >= MAX_LINES:
                raise TooManyLinesError(
                    f"an order has at most {MAX_LINES} different items"
                )
        else:
            unit_price = line.unit_price
            if line.quantity + quantity > MAX_QUANTITY:
                raise QuantityError(
                    sku,
                    quantity,
                    f"the order already has {line.quantity}, at most {MAX_QUANTITY}",
                )
        self.record(
            ItemAdded(
                order_id=self.id,
                sku=sku,
                quantity=quantity,
                unit_price=unit_price,
                currency=currency,
            )
        )

    def remove_item(self, *, sku: str, quantity: int) -> None:
        self.check_items_can_change("remove items from")
        check_quantity(sku, quantity)
        line = self.state.line(sku)
        if line is None:
            raise ItemNotInOrderError(self.id, sku)
        if quantity > line.quantity:
            raise QuantityError(sku, quantity, f"the order has only {line.quantity}")
        if quantity == self.state.item_count:
            raise EmptyOrderError(
                f"removing {quantity} {sku} would leave order {self.id} empty: "
                "cancel it instead"
            )
        self.record(ItemRemoved(order_id=self.id, sku=sku, quantity=quantity))

    def mark_paid(
        self, *, amount: Decimal, currency: str, payment_reference: str
    ) -> None:
        """Record the payment of the whole total; the same payment again is a no-op.

        A payment reaching an order already cancelled or rejected (its charge was in
        flight) is recorded all the same: the money moved, and the saga refunds it,
        which is recorded next (``mark_refunded``)."""
        if self.state.status is None:
            raise OrderNotFoundError(self.id)
        if not payment_reference.strip():
            raise MissingDetailError("payment_reference")
        state = self.state
        if state.paid:
            if (state.payment_reference, state.amount_paid, state.currency) == (
                payment_reference,
                amount,
                currency,
            ):
                return
            raise AlreadyPaidError(
                f"order {self.id} is already paid (reference "
                f"{state.payment_reference}), not by {payment_reference}"
            )
        if (amount, currency) != (state.total, state.currency):
            raise PaymentMismatchError(
                f"order {self.id} totals {state.total} {state.currency}, "
                f"the payment is {amount} {currency}"
            )
        self.record(
            OrderPaid(
                order_id=self.id,
                amount=amount,
                currency=currency,
                payment_reference=payment_reference,
            )
        )

    def mark_refunded(
        self, *, amount: Decimal, currency: str, refund_reference: str
    ) -> None:
        """Record the refund of the payment, once; nothing when nothing was paid (a
        refund of no charge answers a saga's undo) or it is recorded already. Closed
        orders take it too: refunds follow cancellations and rejections."""
        state = self.state
        if not state.paid or state.refunded or amount == 0:
            return
        self.record(
            OrderRefunded(
                order_id=self.id,
                amount=amount,
                currency=currency,
                refund_reference=refund_reference,
            )
        )

    def mark_payment_declined(self, *, reason: str) -> None:
        """Record the provider's refusal of the charge, once. A paid (or refunded)
        order keeps its payment: a decline cannot undo money that moved. Closed orders
        take it too: the decline is what closed them."""
        if self.state.status is None:
            raise OrderNotFoundError(self.id)
        if self.state.paid or self.state.payment_status is PaymentStatus.DECLINED:
            return
        self.record(OrderPaymentDeclined(order_id=self.id, reason=reason))

    def mark_payment_failed(self, *, reason: str) -> None:
        """Record that the charge got no answer, while the payment has none: after a
        payment, a decline or a refund it changes nothing (the fulfilment gives up on
        a step that failed by a decline too)."""
        if self.state.status is None:
            raise OrderNotFoundError(self.id)
        if self.state.payment_status is not PaymentStatus.PENDING:
            return
        self.record(OrderPaymentFailed(order_id=self.id, reason=reason))

    def confirm(self, *, tracking_number: str | None = None) -> None:
        """Confirm a placed order (with its shipment's tracking number, when there is
        one); a confirmed or shipped one is left as it is."""
        status = self.status
        if status in CLOSED:
            raise OrderClosedError(self.id, status, "confirm")
        if status is OrderStatus.PLACED:
            self.record(
                OrderConfirmed(order_id=self.id, tracking_number=tracking_number)
            )

    def ship(self, *, tracking_number: str) -> None:
        """Ship a confirmed order; shipping again with the same number is a no-op."""
        status = self.status
        if not tracking_number.strip():
            raise MissingDetailError("tracking_number")
        if status in CLOSED:
            raise OrderClosedError(self.id, status, "ship")
        if status is OrderStatus.PLACED:
            raise InvalidTransitionError(
                self.id, status, "ship", "it is not confirmed yet"
            )
        if status is OrderStatus.SHIPPED:
            if tracking_number == self.state.tracking_number:
                return
            raise InvalidTransitionError(
                self.id,
                status,
                "ship",
                f"it already shipped with tracking number {self.state.tracking_number}",
            )
        self.record(OrderShipped(order_id=self.id, tracking_number=tracking_number))

    def reject(self, *, reason: str, reason_code: str = "") -> None:
        """Reject a placed order; a rejected or cancelled one is left as it is."""
        status = self.status
        if status in CLOSED:
            return
        if status is not OrderStatus.PLACED:
            raise InvalidTransitionError(
                self.id, status, "reject", f"it is already {status}"
            )
        self.record(
            OrderRejected(order_id=self.id, reason=reason, reason_code=reason_code)
        )

    def start_dispatch(self) -> None:
        """Lock a confirmed order for dispatch; again (or once shipped) a no-op."""
        status = self.status
        if status in CLOSED:
            raise OrderClosedError(self.id, status, "dispatch")
        if status is OrderStatus.PLACED:
            raise InvalidTransitionError(
                self.id, status, "dispatch", "it is not confirmed yet"
            )
        if status is OrderStatus.CONFIRMED and not self.state.dispatching:
            self.record(OrderDispatchStarted(order_id=self.id))

    def cancel(self, *, reason: str) -> None:
        """Cancel an order until it ships; a rejected or cancelled one is left as
        it is."""
        status = self.status
        if status in CLOSED:
            return
        if status is OrderStatus.SHIPPED:
            raise InvalidTransitionError(
                self.id, status, "cancel", "it has already shipped"
            )
        if self.state.dispatching:
            raise InvalidTransitionError(
                self.id, status, "cancel", "it is being dispatched"
            )
        self.record(OrderCancelled(order_id=self.id, reason=reason))
