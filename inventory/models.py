"""Inventory's own tables: the catalogue with stock per SKU."""

from django.core.validators import MinValueValidator
from django.db import models


class Product(models.Model):
    sku = models.CharField(max_length=64, primary_key=True)
    name = models.CharField(max_length=200)
    price = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(0)]
    )
    currency = models.CharField(max_length=3, default="EUR")
    on_hand = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "inventory_product"
        ordering = ["sku"]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"
