"""Catalogue changes, each publishing StockChanged in the same transaction."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from events.outbox import publish

from .models import Product


def put_product(
    *, sku: str, name: str, price: Decimal, stock: int, currency: str = "EUR"
) -> tuple[Product, bool]:
    """Create or update a product and set its stock on hand; returns (product,
    created). StockChanged announces what is available: on hand, less what is held
    for orders. Stock below what is held is refused (ValidationError)."""
    with transaction.atomic():
        held = (
            Product.objects.select_for_update()
            .filter(sku=sku)
            .values_list("reserved", flat=True)
            .first()
        )
        if held is not None and stock < held:
            raise ValidationError(
                f"stock {stock} is below the {held} units held for orders"
            )
        product, created = Product.objects.update_or_create(
            sku=sku,
            defaults={
                "name": name,
                "price": price,
                "on_hand": stock,
                "currency": currency,
            },
        )
        product.full_clean()
        publish(product.stock_changed())
    return product, created
