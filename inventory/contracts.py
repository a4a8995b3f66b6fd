"""The public contract of inventory: the messages it publishes or accepts.

The only module of this app that another app may import."""

from decimal import Decimal

from events.messages import Event, message


@message("inventory.StockChanged", topic="inventory", key="sku")
class StockChanged(Event):
    """A product's sellable stock or catalogue data changed (feeds availability)."""

    sku: str
    name: str
    price: Decimal
    currency: str
    available: int
