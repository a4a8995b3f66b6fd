"""Read models that orders keep of other apps' data (stock, customers), each a
projection with its own subscription; times come from envelopes, never the clock."""

from collections.abc import Sequence

from customers.contracts import CustomerRegistered, CustomerUpdated
from events.projections import Projection, projection
from events.subscriptions import Delivery
from inventory.contracts import StockChanged

from ..models import AvailabilityView, CustomerView


@projection
class AvailabilityProjection(Projection):
    """What orders believe is in stock: the latest StockChanged per SKU."""

    name = "orders.availability"
    topics = ("inventory",)
    handles = (StockChanged,)
    tables = (AvailabilityView,)

    def apply(self, deliveries: Sequence[Delivery]) -> None:
        latest = {d.message.sku: d for d in deliveries}
        self.table(AvailabilityView).objects.bulk_create(
            [
                self.table(AvailabilityView)(
                    sku=d.message.sku,
                    name=d.message.name,
                    price=d.message.price,
                    currency=d.message.currency,
                    available=d.message.available,
                    updated_at=d.ctx.envelope.recorded_at,
                )
                for d in latest.values()
            ],
            update_conflicts=True,
            unique_fields=["sku"],
            update_fields=["name", "price", "currency", "available", "updated_at"],
        )


@projection
class CustomerDirectoryProjection(Projection):
    """Who may order: every customer event carries the whole row, so the last wins."""

    name = "orders.customers"
    topics = ("customers",)
    handles = (CustomerRegistered, CustomerUpdated)
    tables = (CustomerView,)

    def apply(self, deliveries: Sequence[Delivery]) -> None:
        latest = {d.message.customer_id: d.message for d in deliveries}
        self.table(CustomerView).objects.bulk_create(
            [
                self.table(CustomerView)(
                    customer_id=event.customer_id,
                    email=event.email,
                    name=event.name,
                    is_active=getattr(event, "is_active", True),
                )
                for event in latest.values()
            ],
            update_conflicts=True,
            unique_fields=["customer_id"],
            update_fields=["email", "name", "is_active"],
        )
