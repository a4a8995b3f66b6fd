"""The public contract of inventory: the messages it publishes or accepts.

The only module of this app that another app may import. Every message is on the
``inventory`` topic; order-related ones are keyed by ``order_id`` (one order's
reservation messages stay in one partition, in order), StockChanged by ``sku``.

A reservation is all or nothing: ReserveInventory answers InventoryReserved (every line
held) or InventoryShort (nothing held, the short lines named). ReleaseInventory puts
held stock back (the saga's compensation); CommitInventory takes it off the shelf for
good (on dispatch). Each command is idempotent per order: sent again, it changes nothing
and answers as before. PutProduct (staff: the admin, the CLI) is executed in-process
and never published, so it has no wire name.
"""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from events import Command, Event, message

# --- values used inside messages --------------------------------------------------


class StockLine(BaseModel):
    """A SKU and a quantity of it (asked for, held, released or committed)."""

    model_config = ConfigDict(frozen=True)

    sku: str
    quantity: PositiveInt


class Shortage(BaseModel):
    """A line that could not be held: how many were wanted, how many were available."""

    model_config = ConfigDict(frozen=True)

    sku: str
    wanted: int
    available: int


# --- commands ---------------------------------------------------------------------


@message("inventory.ReserveInventory", topic="inventory", key="order_id")
class ReserveInventory(Command):
    """Hold stock for every line of an order, or for none. A SKU named twice is held
    for the sum of its lines."""

    order_id: UUID
    lines: tuple[StockLine, ...] = Field(min_length=1)


@message("inventory.ReleaseInventory", topic="inventory", key="order_id")
class ReleaseInventory(Command):
    """Put an order's held stock back on the shelf; answered by InventoryReleased."""

    order_id: UUID


@message("inventory.CommitInventory", topic="inventory", key="order_id")
class CommitInventory(Command):
    """The order is dispatched: its held stock leaves the shelf for good; answered by
    InventoryCommitted."""

    order_id: UUID


# --- events -----------------------------------------------------------------------


@message("inventory.StockChanged", topic="inventory", key="sku")
class StockChanged(Event):
    """A product's sellable stock or catalogue data changed (feeds availability).
    ``available`` is on hand minus what is held for orders."""

    sku: str
    name: str
    price: Decimal
    currency: str
    available: int


@message("inventory.InventoryReserved", topic="inventory", key="order_id")
class InventoryReserved(Event):
    """Stock for every line of an order is held (all or nothing). Sent again, with
    the same lines, when the order's reservation is asked for again."""

    order_id: UUID
    lines: tuple[StockLine, ...] = ()  # optional: absent from messages stored before


@message("inventory.InventoryShort", topic="inventory", key="order_id")
class InventoryShort(Event):
    """Not every line of an order could be held, so nothing was held."""

    order_id: UUID
    shortages: tuple[Shortage, ...]

    @property
    def reason(self) -> str:
        """In words, for the order's rejection (and the customer's mail)."""
        return "out of stock: " + ", ".join(
            f"{s.sku} ({s.wanted} wanted, {s.available} available)"
            for s in self.shortages
        )


@message("inventory.InventoryReleased", topic="inventory", key="order_id")
class InventoryReleased(Event):
    """An order's held stock went back on the shelf (compensation or cancellation).
    ``lines`` is what was released; empty when nothing was held for the order."""

    order_id: UUID
    lines: tuple[StockLine, ...] = ()  # optional: absent from messages stored before


@message("inventory.InventoryCommitted", topic="inventory", key="order_id")
class InventoryCommitted(Event):
    """An order's held stock left the shelf for good (the order was dispatched)."""

    order_id: UUID
    lines: tuple[StockLine, ...] = ()


class PutProduct(Command):
    """Create or update a product and set its stock on hand (announced by
    StockChanged); stock below what is held for orders is refused. With
    ``only_if_missing`` an existing product is left exactly as it is (seeding, which
    may run again at any time: its stock is what the shop made of it since)."""

    sku: str
    name: str
    price: Decimal
    stock: int
    currency: str = "EUR"
    only_if_missing: bool = False
