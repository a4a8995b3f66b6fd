"""The commands inventory executes in-process (``events.bus``): catalogue changes, each
publishing StockChanged in the same unit of work. The commands of the order flow are
delivered to its subscription (``handlers``)."""

from dataclasses import dataclass

from django.core.exceptions import ValidationError

from events import command_handler, publish

from .contracts import PutProduct
from .models import Product


@dataclass(frozen=True)
class Put:
    product: Product
    created: bool


@command_handler(PutProduct)
def put_product(command: PutProduct) -> Put:
    """Create or update a product and set its stock on hand (or, ``only_if_missing``,
    create it unless the SKU exists). StockChanged announces what is available: on
    hand, less what is held for orders. Stock below what is held is refused
    (ValidationError)."""
    existing = Product.objects.select_for_update().filter(sku=command.sku).first()
    if existing is not None and command.only_if_missing:
        return Put(existing, created=False)
    held = existing.reserved if existing is not None else None
    if held is not None and command.stock < held:
        raise ValidationError(
            f"stock {command.stock} is below the {held} units held for orders"
        )
    product, created = Product.objects.update_or_create(
        sku=command.sku,
        defaults={
            "name": command.name,
            "price": command.price,
            "on_hand": command.stock,
            "currency": command.currency,
        },
    )
    product.full_clean()
    publish(product.stock_changed())
    return Put(product, created)
