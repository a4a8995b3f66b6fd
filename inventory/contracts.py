"""The public contract of inventory: the messages it publishes or accepts.

The only module of this app that another app may import."""

from decimal import Decimal
from uuid import UUID

from events.messages import Event, message


@message("inventory.StockChanged", topic="inventory", key="sku")
class StockChanged(Event):
    """A product's sellable stock or catalogue data changed (feeds availability)."""

    sku: str
    name: str
    price: Decimal
    currency: str
    available: int


@message("inventory.InventoryReserved", topic="inventory", key="order_id")
class InventoryReserved(Event):
    """Stock for every line of an order is held (all or nothing)."""

    order_id: UUID


@message("inventory.InventoryReleased", topic="inventory", key="order_id")
class InventoryReleased(Event):
    """An order's held stock went back on the shelf (compensation or cancellation)."""

    order_id: UUID
