"""The commands the Order accepts, one handler each, run by ``events.bus``: through
``bus.execute`` (the API, staff) or inside a delivery (``handlers``: the saga's
commands and other apps' facts).

Each one loads the order, lets the domain decide and saves, inside the caller's unit
of work, and returns the order as saved (what an entrypoint answers with); a
concurrent change to the same order is a ConcurrencyConflict that the bus retries
from a fresh load. What orders checks beyond the Order's own rules it reads
from its own views (customers and availability), which follow the other apps' events
and may lag them: the authoritative stock reservation happens later, in inventory.
"""

from __future__ import annotations

from uuid import UUID

from events import command_handler, repository

from . import domain
from .contracts import (
    AddItem,
    CancelOrder,
    ConfirmOrder,
    MarkOrderPaid,
    MarkOrderPaymentDeclined,
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
from .saga import CHARGE_GOT_NO_ANSWER


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
    order = repository.load(Order, order_id)
    if not order.exists:
        raise domain.OrderNotFoundError(order.id)
    return order


@command_handler(PlaceOrder)
def place_order(command: PlaceOrder) -> Order:
    """Place a new order priced from the availability view. Placing an order id that
    exists fails (OrderAlreadyExistsError); retries of a request use idempotency keys.
    """
    order = repository.load(Order, command.order_id)
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
    repository.save(order)
    return order


@command_handler(AddItem)
def add_item(command: AddItem) -> Order:
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
    repository.save(order)
    return order


@command_handler(RemoveItem)
def remove_item(command: RemoveItem) -> Order:
    order = _existing(command.order_id)
    order.remove_item(sku=command.sku, quantity=command.quantity)
    repository.save(order)
    return order


@command_handler(CancelOrder)
def cancel_order(command: CancelOrder) -> Order:
    """Idempotent: cancelling a cancelled or rejected order records nothing."""
    order = _existing(command.order_id)
    order.cancel(reason=command.reason)
    repository.save(order)
    return order


@command_handler(MarkOrderRefunded)
def mark_order_refunded(command: MarkOrderRefunded) -> Order:
    """Idempotent: a second refund, or a refund of nothing, records nothing."""
    order = _existing(command.order_id)
    order.mark_refunded(
        amount=command.amount,
        currency=command.currency,
        refund_reference=command.refund_reference,
    )
    repository.save(order)
    return order


@command_handler(StartDispatch)
def start_dispatch(command: StartDispatch) -> Order:
    """Idempotent: an order already dispatching or shipped records nothing."""
    order = _existing(command.order_id)
    order.start_dispatch()
    repository.save(order)
    return order


@command_handler(MarkOrderPaid)
def mark_order_paid(command: MarkOrderPaid) -> Order:
    """Idempotent per payment reference."""
    order = _existing(command.order_id)
    order.mark_paid(
        amount=command.amount,
        currency=command.currency,
        payment_reference=command.payment_reference,
    )
    repository.save(order)
    return order


@command_handler(MarkOrderPaymentDeclined)
def mark_order_payment_declined(command: MarkOrderPaymentDeclined) -> Order:
    """Idempotent: a recorded decline, or a paid order, records nothing."""
    order = _existing(command.order_id)
    order.mark_payment_declined(reason=command.reason)
    repository.save(order)
    return order


@command_handler(ConfirmOrder)
def confirm_order(command: ConfirmOrder) -> Order:
    """Idempotent: confirming a confirmed or shipped order records nothing."""
    order = _existing(command.order_id)
    order.confirm(tracking_number=command.tracking_number)
    repository.save(order)
    return order


@command_handler(ShipOrder)
def ship_order(command: ShipOrder) -> Order:
    """Idempotent per tracking number."""
    order = _existing(command.order_id)
    order.ship(tracking_number=command.tracking_number)
    repository.save(order)
    return order


@command_handler(RejectOrder)
def reject_order(command: RejectOrder) -> Order:
    """Idempotent: rejecting a rejected or cancelled order records nothing. Rejected
    because the charge got no answer (its step failed past every retry, or timed
    out), the payment is recorded as failed in the same change, so no reader sees a
    rejected order whose payment is still pending."""
    order = _existing(command.order_id)
    if command.reason_code in CHARGE_GOT_NO_ANSWER:
        order.mark_payment_failed(reason=command.reason)
    order.reject(reason=command.reason, reason_code=command.reason_code)
    repository.save(order)
    return order
