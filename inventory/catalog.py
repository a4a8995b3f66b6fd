"""Catalogue changes, each publishing StockChanged in the same transaction."""

from decimal import Decimal

from django.db import transaction

from events.outbox import publish

from .contracts import StockChanged
from .models import Product


def put_product(
    *, sku: str, name: str, price: Decimal, stock: int, currency: str = "EUR"
) -> tuple[Product, bool]:
    """Create or update a product and set its stock; returns (product, created)."""
    with transaction.atomic():
        product, created = Product.objects.select_for_update().update_or_create(
            sku=sku,
            defaults={
                "name": name,
                "price": price,
                "on_hand": stock,
                "currency": currency,
            },
        )
        product.full_clean()
        publish(
            StockChanged(
                sku=sku, name=name, price=price, currency=currency, available=stock
            )
        )
    return product, created
