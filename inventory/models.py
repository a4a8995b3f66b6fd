"""Inventory's own tables: the catalogue with stock per SKU, and the stock held for
orders (holds).

``available`` = ``on_hand`` - ``reserved``; ``reserved`` is the sum of the product's
holds in status ``held``, kept on the product row so that one locked row decides a
reservation. A check constraint keeps ``reserved <= on_hand``: however handlers race,
the database refuses to oversell."""

from django.core.validators import MinValueValidator
from django.db import models

from .contracts import StockChanged


class Product(models.Model):
    sku = models.CharField(max_length=64, primary_key=True)
    name = models.CharField(max_length=200)
    price = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(0)]
    )
    currency = models.CharField(max_length=3, default="EUR")
    on_hand = models.PositiveIntegerField(default=0)
    reserved = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        db_table = "inventory_product"
        ordering = ["sku"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(reserved__lte=models.F("on_hand")),
                name="inventory_product_reserved_lte_on_hand",
                violation_error_message="more stock is held for orders than is on hand",
            )
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"

    @property
    def available(self) -> int:
        """What can still be sold: on hand, less what is held for orders."""
        return self.on_hand - self.reserved

    def stock_changed(self) -> StockChanged:
        """The event announcing this row as it now stands."""
        return StockChanged(
            sku=self.sku,
            name=self.name,
            price=self.price,
            currency=self.currency,
            available=self.available,
        )


class Hold(models.Model):
    """Stock of one SKU held for one order; released (back on the shelf) or committed
    (gone with the order) later. One row per order and SKU, whatever happens to it."""

    class Status(models.TextChoices):
        HELD = "held"
        RELEASED = "released"
        COMMITTED = "committed"

    order_id = models.UUIDField()
    sku = models.CharField(max_length=64)
    quantity = models.PositiveIntegerField()
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.HELD)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "inventory_hold"
        ordering = ["order_id", "sku"]
        constraints = [
            models.UniqueConstraint(
                fields=["order_id", "sku"], name="inventory_hold_one_per_order_sku"
            )
        ]
        indexes = [models.Index(fields=["sku", "status"])]

    def __str__(self) -> str:
        return f"{self.order_id} {self.sku} x{self.quantity} {self.status}"
