"""Inventory's subscription: the reservation commands of the order saga.

Each handler runs inside the delivery transaction (inbox row, stock rows, published
messages and checkpoint commit together), so a redelivered command has no second
effect. Commands are keyed by order, so one order's commands are handled one at a time
and in order; different orders race for the same products, and the product rows they
touch are locked (``select_for_update``) in SKU order before anything is decided.
Every command is idempotent per order: sent again, it changes nothing and answers as
it did the first time.

``batch_size=1``: a delivery transaction then handles one command and locks its
products in SKU order, so two drains can never deadlock on products taken in opposite
orders by different messages of one batch; and a hot product is locked only for one
command at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from uuid import UUID

from django.utils import timezone

from events import Context, DomainError, Subscription
from shipping.contracts import ShipmentDispatched

from . import domain
from .contracts import (
    CommitInventory,
    InventoryCommitted,
    InventoryReleased,
    InventoryReserved,
    InventoryShort,
    ReleaseInventory,
    ReserveInventory,
    StockLine,
)
from .models import Hold, Product

logger = logging.getLogger(__name__)

inventory = Subscription("inventory", topics=("inventory", "shipping"), batch_size=1)


class NothingHeldError(DomainError):
    """CommitInventory for an order with no stock held (never reserved, or released)."""


@inventory.handles(ReserveInventory)
def reserve_inventory(cmd: ReserveInventory, ctx: Context) -> None:
    """Hold every line or none; answer InventoryReserved or InventoryShort, and publish
    StockChanged for each SKU whose availability changed.

    An order that already has holds is not held again: held or committed, it is
    answered InventoryReserved with what it holds; released (a late command after the
    saga compensated), InventoryReleased."""
    holds = list(Hold.objects.filter(order_id=cmd.order_id))
    if holds:
        ctx.publish(_answer_again(cmd.order_id, holds))
        return
    want = domain.wanted(cmd.lines)
    products = _locked(want)
    short = domain.shortages(
        want, {sku: product.available for sku, product in products.items()}
    )
    if short:
        ctx.publish(InventoryShort(order_id=cmd.order_id, shortages=short))
        return
    for sku, quantity in want.items():
        products[sku].reserved += quantity
        products[sku].save(update_fields=["reserved"])
    Hold.objects.bulk_create(
        Hold(order_id=cmd.order_id, sku=sku, quantity=quantity)
        for sku, quantity in want.items()
    )
    ctx.publish(
        InventoryReserved(order_id=cmd.order_id, lines=domain.as_lines(want)),
        *(product.stock_changed() for product in products.values()),
    )


@inventory.handles(ReleaseInventory)
def release_inventory(cmd: ReleaseInventory, ctx: Context) -> None:
    """Put the order's held stock back and answer InventoryReleased with what this
    command released: empty when nothing is held (released already, never reserved,
    or committed), so releasing twice changes nothing."""
    holds = _held(cmd.order_id)
    if (
        not holds
        and Hold.objects.filter(
            order_id=cmd.order_id, status=Hold.Status.COMMITTED
        ).exists()
    ):
        logger.warning("release of order %s: its stock is committed", cmd.order_id)
    products = _locked(h.sku for h in holds)
    now = timezone.now()
    for hold in holds:
        products[hold.sku].reserved -= hold.quantity
        hold.status, hold.updated_at = Hold.Status.RELEASED, now
    Product.objects.bulk_update(products.values(), ["reserved"])
    Hold.objects.bulk_update(holds, ["status", "updated_at"])
    ctx.publish(
        InventoryReleased(order_id=cmd.order_id, lines=_lines(holds)),
        *(product.stock_changed() for product in products.values()),
    )


@inventory.handles(CommitInventory)
def commit_inventory(cmd: CommitInventory, ctx: Context) -> None:
    """The held stock leaves the shelf: on hand and reserved both drop, so what is
    available does not change. Committing again answers InventoryCommitted again; an
    order with nothing held or committed is an error (retried, then dead-lettered)."""
    holds = _held(cmd.order_id)
    if not holds:
        committed = list(
            Hold.objects.filter(order_id=cmd.order_id, status=Hold.Status.COMMITTED)
        )
        if not committed:
            raise NothingHeldError(f"no stock is held for order {cmd.order_id}")
        ctx.publish(InventoryCommitted(order_id=cmd.order_id, lines=_lines(committed)))
        return
    products = _locked(h.sku for h in holds)
    now = timezone.now()
    for hold in holds:
        products[hold.sku].on_hand -= hold.quantity
        products[hold.sku].reserved -= hold.quantity
        hold.status, hold.updated_at = Hold.Status.COMMITTED, now
    Product.objects.bulk_update(products.values(), ["on_hand", "reserved"])
    Hold.objects.bulk_update(holds, ["status", "updated_at"])
    ctx.publish(InventoryCommitted(order_id=cmd.order_id, lines=_lines(holds)))


def _locked(skus: Iterable[str]) -> dict[str, Product]:
    """The products, their rows locked in SKU order (a fixed order: no deadlocks)."""
    return {
        product.sku: product
        for product in Product.objects.select_for_update()
        .filter(sku__in=sorted(set(skus)))
        .order_by("sku")
    }


def _held(order_id: UUID) -> list[Hold]:
    return list(
        Hold.objects.filter(order_id=order_id, status=Hold.Status.HELD).order_by("sku")
    )


def _lines(holds: Iterable[Hold]) -> tuple[StockLine, ...]:
    return domain.as_lines({hold.sku: hold.quantity for hold in holds})


def _answer_again(
    order_id: UUID, holds: list[Hold]
) -> InventoryReserved | InventoryReleased:
    if all(hold.status == Hold.Status.RELEASED for hold in holds):
        return InventoryReleased(order_id=order_id)
    return InventoryReserved(order_id=order_id, lines=_lines(holds))


@inventory.on(ShipmentDispatched)
def on_shipment_dispatched(event: ShipmentDispatched, ctx: Context) -> None:
    """Staff dispatched the order: its held stock leaves the shelf."""
    commit_inventory(CommitInventory(order_id=event.order_id), ctx)
