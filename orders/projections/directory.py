"""Read models that orders keep of other apps' data (stock, customers), each a
projection with its own subscription; times come from envelopes, never the clock.

Each event carries the whole row, so the newest wins: within a batch the last one per
key, and against the stored row by the time it was recorded (``updated_at``). An
older event, one parked as a dead letter and redriven after newer ones applied, is
skipped: otherwise a redrive could put back stock that is gone, or reactivate a
customer staff disabled. (A key's messages share a partition, whose log rows take
their times in offset order, under the partition's lock.)"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from customers.contracts import CustomerRegistered, CustomerUpdated
from events import Delivery, Projection, projection
from inventory.contracts import StockChanged

from ..models import AvailabilityView, CustomerView


def newest(
    deliveries: Sequence[Delivery],
    key: str,
    stored: Mapping[Any, datetime | None],
) -> list[Delivery]:
    """The last delivery per ``key`` value, unless the stored row (its ``updated_at``
    in ``stored``) was recorded after it."""
    latest = {getattr(d.message, key): d for d in deliveries}
    return [
        d
        for value, d in latest.items()
        if (at := stored.get(value)) is None or d.ctx.envelope.recorded_at >= at
    ]


@projection
class AvailabilityProjection(Projection):
    """What orders believe is in stock: the latest StockChanged per SKU."""

    name = "orders.availability"
    topics = ("inventory",)
    handles = (StockChanged,)
    tables = (AvailabilityView,)

    def apply(self, deliveries: Sequence[Delivery]) -> None:
        table = self.table(AvailabilityView)
        stored = dict(
            table.objects.filter(
                sku__in={d.message.sku for d in deliveries}
            ).values_list("sku", "updated_at")
        )
        table.objects.bulk_create(
            [
                table(
                    sku=d.message.sku,
                    name=d.message.name,
                    price=d.message.price,
                    currency=d.message.currency,
                    available=d.message.available,
                    updated_at=d.ctx.envelope.recorded_at,
                )
                for d in newest(deliveries, "sku", stored)
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
        table = self.table(CustomerView)
        stored = dict(
            table.objects.filter(
                customer_id__in={d.message.customer_id for d in deliveries}
            ).values_list("customer_id", "updated_at")
        )
        table.objects.bulk_create(
            [
                table(
                    customer_id=d.message.customer_id,
                    email=d.message.email,
                    name=d.message.name,
                    is_active=getattr(d.message, "is_active", True),
                    updated_at=d.ctx.envelope.recorded_at,
                )
                for d in newest(deliveries, "customer_id", stored)
            ],
            update_conflicts=True,
            unique_fields=["customer_id"],
            update_fields=["email", "name", "is_active", "updated_at"],
        )
