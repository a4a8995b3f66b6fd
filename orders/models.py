"""Orders' own tables: read models fed by events (the Order itself is event-sourced)."""

from django.db import models


class AvailabilityView(models.Model):
    """What orders believe is in stock, fed by inventory's StockChanged (eventually
    consistent: the authoritative reservation happens later, in inventory)."""

    sku = models.CharField(max_length=64, primary_key=True)
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    available = models.IntegerField()
    updated_at = models.DateTimeField(help_text="When the last change was recorded.")

    class Meta:
        db_table = "orders_availability_view"
        ordering = ["sku"]

    def __str__(self) -> str:
        return f"{self.sku}: {self.available}"


class CustomerView(models.Model):
    """Who may order, fed by customers' events (orders never reads their table)."""

    customer_id = models.UUIDField(primary_key=True)
    email = models.CharField(max_length=254)
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)

    class Meta:
        db_table = "orders_customer_view"

    def __str__(self) -> str:
        return self.email
