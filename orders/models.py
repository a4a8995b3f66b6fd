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
    # When the event the row reflects was recorded (null: rows from before it was
    # kept): an older, redriven event is not applied over it.
    updated_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "orders_customer_view"
        indexes = [models.Index(fields=["email"], name="orders_customer_email")]

    def __str__(self) -> str:
        return self.email


class OrderSummaryView(models.Model):
    """One row per order: the storefront's and staff's view of it."""

    order_id = models.UUIDField(primary_key=True)
    customer_id = models.UUIDField()
    status = models.CharField(max_length=10)
    item_count = models.PositiveIntegerField()
    total = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    payment_status = models.CharField(max_length=10)
    reserved = models.BooleanField()
    shipment_status = models.CharField(max_length=10)
    tracking_number = models.CharField(max_length=100, blank=True)
    # The provider's charge id, from OrderPaid (staff search by it).
    payment_reference = models.CharField(max_length=100, blank=True, default="")
    reason = models.TextField(blank=True)
    reason_code = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    version = models.PositiveIntegerField(help_text="The order stream's last version.")

    class Meta:
        db_table = "orders_summary_view"
        verbose_name = "order"  # what staff see in the admin: the order, as read
        indexes = [
            models.Index(
                fields=["customer_id", "-created_at", "order_id"],
                name="orders_summary_by_customer",
            ),
            models.Index(fields=["status", "created_at"], name="orders_summary_status"),
            # staff find an order by its parcel or its charge
            models.Index(fields=["tracking_number"], name="orders_summary_tracking"),
            models.Index(fields=["payment_reference"], name="orders_summary_payment"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.status}"


class OrderLineView(models.Model):
    """One row per (order, SKU); ``line_id`` is ``<order_id>:<sku>`` so a rebuild gives
    the same keys as the live model."""

    line_id = models.CharField(max_length=120, primary_key=True)
    order_id = models.UUIDField(db_index=True)
    sku = models.CharField(max_length=64)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)

    class Meta:
        db_table = "orders_line_view"

    def __str__(self) -> str:
        return self.line_id
