"""Reading orders' read models (the API and the admin use these; never the tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from .models import OrderLineView, OrderSummaryView

SUMMARY = [f.name for f in OrderSummaryView._meta.concrete_fields]
LINE = ["sku", "quantity", "unit_price", "currency"]


def order_summary(order_id: UUID) -> dict[str, Any] | None:
    """An order's summary with its lines, or None if the view does not have it yet."""
    summary = (
        OrderSummaryView.objects.filter(order_id=order_id).values(*SUMMARY).first()
    )
    if summary is not None:
        summary["lines"] = order_lines(order_id)
    return summary


def order_lines(order_id: UUID) -> list[dict[str, Any]]:
    return list(
        OrderLineView.objects.filter(order_id=order_id).order_by("sku").values(*LINE)
    )


def customer_orders(
    customer_id: UUID,
    *,
    limit: int = 20,
    before: tuple[datetime, UUID] | None = None,
) -> list[dict[str, Any]]:
    """A customer's orders, newest first; ``before`` is the (created_at, order_id) of
    the last row of the previous page (keyset pagination: stable under inserts)."""
    rows = OrderSummaryView.objects.filter(customer_id=customer_id)
    if before is not None:
        created_at, order_id = before
        rows = rows.filter(created_at__lt=created_at) | rows.filter(
            created_at=created_at, order_id__lt=order_id
        )
    return list(rows.order_by("-created_at", "-order_id").values(*SUMMARY)[:limit])


def ready_to_ship(*, limit: int = 100) -> list[dict[str, Any]]:
    """Orders paid and with stock reserved, not yet shipped, closed or rejected,
    oldest first."""
    rows = OrderSummaryView.objects.filter(
        payment_status="paid", reserved=True, status__in=["placed", "confirmed"]
    )
    return list(rows.order_by("created_at", "order_id").values(*SUMMARY)[:limit])
