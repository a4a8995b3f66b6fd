"""Handlers of the commands the Order accepts, run by ``events.bus.execute``.

Each one loads the order, lets the domain decide and saves, inside the bus's
transaction; a concurrent change to the same order is a ConcurrencyConflict that the
bus retries from a fresh load. What orders checks beyond the Order's own rules it reads
from its own views (customers and availability), which follow the other apps' events
and may lag them: the authoritative stock reservation happens later, in inventory.
"""

from __future__ import annotations

from uuid import UUID

from events import aggregates
from events.bus import command_handler

from . import domain
from .contracts import (
    AddItem,
    CancelOrder,
    ConfirmOrder,
    MarkOrderPaid,
    MarkOrderRefunded,
    OrderLine,
    PlaceOrder,
    RejectOrder,
    RemoveItem,
    ShipOrder,
    StartDispatch,
)
from .domain import Order
from .models import AvailabilityView, CustomerView


def _products(skus: set[str]) -> dict[str, AvailabilityView]:
    found = AvailabilityView.objects.in_bulk(skus)
    missing = skus - found.keys()
    if missing:
        raise domain.UnknownProductError(missing)
    return found


def _check_stock(wanted: dict[str, int], products: dict[str, AvailabilityView]) -> None:
    shortages = [
        domain.Shortage(sku, quantity, products[sku].available)
        for sku, quantity in wanted.items()
        if quantity > products[sku].available
    ]
    if shortages:
        raise domain.OutOfStockError(shortages)


def _check_customer(command: PlaceOrder) -> None:
    customer = CustomerView.objects.filter(customer_id=command.customer_id).first()
    if customer is None:
        raise domain.UnknownCustomerError(command.customer_id)
    if not customer.is_active:
        raise domain.InactiveCustomerError(command.customer_id)


def _existing(order_id: UUID) -> Order:
    order = aggregates.load(Order, order_id)
    if not order.exists:
        raise domain.OrderNotFoundError(order.id)
    return order


@command_handler(PlaceOrder)
def place_order(command: PlaceOrder) -> None:
    """Place a new order priced from the availability view. Placing an order id that
    exists fails (OrderAlreadyExistsError); retries of a request use idempotency keys.
    """
    order = aggregates.load(Order, command.order_id)
    if order.exists:
        raise domain.OrderAlreadyExistsError(order.id)
    items = domain.merge_items(command.items)
    _check_customer(command)
    products = _products({item.sku for item in items})
    _check_stock({item.sku: item.quantity for item in items}, products)
    order.place(
        customer_id=command.customer_id,
        lines=[
            OrderLine(
                sku=item.sku,
                quantity=item.quantity,
                unit_price=products[item.sku].price,
                currency=products[item.sku].currency,
            )
            for item in items
        ],
        shipping_address=command.shipping_address,
        payment_method=command.payment_method,
    )
    aggregates.save(order)


@command_handler(AddItem)
def add_item(command: AddItem) -> None:
    """Add units of a product at its current price, if the view has them in stock."""
    order = _existing(command.order_id)
    order.check_items_can_change("add items to")
    domain.check_quantity(command.sku, command.quantity)
    products = _products({command.sku})
    _check_stock({command.sku: command.quantity}, products)
    product = products[command.sku]
    order.add_item(
        sku=command.sku,
        quantity=command.quantity,
        unit_price=product.price,
        currency=product.currency,
    )
    aggregates.save(order)


@command_handler(RemoveItem)
def remove_item(command: RemoveItem) -> None:
    order = _existing(command.order_id)
    order.remove_item(sku=command.sku, quantity=command.quantity)
    aggregates.save(order)


@command_handler(CancelOrder)
def cancel_order(command: CancelOrder) -> None:
    """Idempotent: cancelling a cancelled or rejected order records nothing."""
    order = _existing(command.order_id)
    order.cancel(reason=command.reason)
    aggregates.save(order)


@command_handler(MarkOrderRefunded)
def mark_order_refunded(command: MarkOrderRefunded) -> None:
    """Idempotent: a second refund, or a refund of nothing, records nothing."""
    order = _existing(command.order_id)
    order.mark_refunded(
        amount=command.amount,
        currency=command.currency,
        refund_reference=command.refund_reference,
    )
    aggregates.save(order)


@command_handler(StartDispatch)
def start_dispatch(command: StartDispatch) -> None:
    """Idempotent: an order already dispatching or shipped records nothing."""
    order = _existing(command.order_id)
    order.start_dispatch()
    aggregates.save(order)


@command_handler(MarkOrderPaid)
def mark_order_paid(command: MarkOrderPaid) -> None:
    """Idempotent per payment reference."""
    order = _existing(command.order_id)
    order.mark_paid(
        amount=command.amount,
        currency=command.currency,
        payment_reference=command.payment_reference,
    )
    aggregates.save(order)


@command_handler(ConfirmOrder)
def confirm_order(command: ConfirmOrder) -> None:
    """Idempotent: confirming a confirmed or shipped order records nothing."""
    order = _existing(command.order_id)
    order.confirm(tracking_number=command.tracking_number)
    aggregates.save(order)


@command_handler(ShipOrder)
def ship_order(command: ShipOrder) -> None:
    """Idempotent per tracking number."""
    order = _existing(command.order_id)
    order.ship(tracking_number=command.tracking_number)
    aggregates.save(order)


@command_handler(RejectOrder)
def reject_order(command: RejectOrder) -> None:
    """Idempotent: rejecting a rejected or cancelled order records nothing."""
    order = _existing(command.order_id)
    order.reject(reason=command.reason)
    aggregates.save(order)
