"""Read models of orders, each fed by its own subscription (a rebuild from offset 0
gives the same rows)."""

from collections.abc import Sequence

from customers.contracts import CustomerRegistered, CustomerUpdated
from events.subscriptions import Delivery, Subscription
from inventory.contracts import StockChanged

from .models import AvailabilityView, CustomerView

availability = Subscription("orders.availability", topics=("inventory",))


@availability.on(StockChanged, batch=True)
def on_stock_changed(deliveries: Sequence[Delivery]) -> None:
    """Upsert the latest state per SKU; applying the same change twice is harmless."""
    latest = {d.message.sku: d.message for d in deliveries}
    AvailabilityView.objects.bulk_create(
        [
            AvailabilityView(
                sku=change.sku,
                name=change.name,
                price=change.price,
                currency=change.currency,
                available=change.available,
            )
            for change in latest.values()
        ],
        update_conflicts=True,
        unique_fields=["sku"],
        update_fields=["name", "price", "currency", "available", "updated_at"],
    )


customers = Subscription("orders.customers", topics=("customers",))


@customers.on(CustomerRegistered)
def on_customer_registered(event: CustomerRegistered, ctx: object) -> None:
    CustomerView.objects.update_or_create(
        customer_id=event.customer_id,
        defaults={"email": event.email, "name": event.name},
    )


@customers.on(CustomerUpdated)
def on_customer_updated(event: CustomerUpdated, ctx: object) -> None:
    CustomerView.objects.update_or_create(
        customer_id=event.customer_id,
        defaults={
            "email": event.email,
            "name": event.name,
            "is_active": event.is_active,
        },
    )
