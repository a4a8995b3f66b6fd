"""Reading the catalogue for the storefront: products in SKU order, a page at a time
(keyset pagination on the primary key: stable while products are added)."""

from __future__ import annotations

from typing import Any

from .models import Product

FIELDS = ("sku", "name", "price", "currency", "on_hand", "reserved")


def products(*, after: str | None, limit: int) -> list[dict[str, Any]]:
    rows = Product.objects.order_by("sku")
    if after is not None:
        rows = rows.filter(sku__gt=after)
    return list(rows.values(*FIELDS)[:limit])


def product(sku: str) -> dict[str, Any] | None:
    return Product.objects.filter(sku=sku).values(*FIELDS).first()
