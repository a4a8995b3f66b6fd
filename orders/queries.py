"""Reading orders' read models (the API and the admin use these; never the tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from events import store, waiting

from .domain import Order
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


# --- for the storefront API --------------------------------------------------------
SUMMARY_SUBSCRIPTION = "orders.summary"  # the projection feeding OrderSummaryView


def lines_by_order(order_ids: list[UUID]) -> dict[UUID, list[dict[str, Any]]]:
    """The lines of several orders in one query, each order's in SKU order."""
    found: dict[UUID, list[dict[str, Any]]] = {order_id: [] for order_id in order_ids}
    rows = OrderLineView.objects.filter(order_id__in=order_ids).order_by("sku")
    for row in rows.values("order_id", *LINE):
        found[row.pop("order_id")].append(row)
    return found


def owner_of(order_id: UUID) -> UUID | None:
    """Whose order this is: from the summary, or, when the view has not caught up yet,
    from the order's first event (the stream is the truth). None: no such order."""
    owner = (
        OrderSummaryView.objects.filter(order_id=order_id)
        .values_list("customer_id", flat=True)
        .first()
    )
    if owner is not None:
        return owner
    first = store.read(Order.stream_for(order_id), upto_version=1)
    return UUID(first[0].payload["customer_id"]) if first else None


def history(order_id: UUID) -> list[dict[str, Any]]:
    """The order's events: type, version, schema_version, recorded_at, data."""
    return store.history(Order.stream_for(order_id))


def wait_until_current(order_id: UUID, *, timeout: float) -> bool:
    """Wait (at most ``timeout`` seconds) until the summary has applied the order's
    latest event; False if it has not by then."""
    rows = store.read(Order.stream_for(order_id))
    if not rows:
        return True
    try:
        waiting.wait_for_messages(SUMMARY_SUBSCRIPTION, rows[-1:], timeout=timeout)
    except waiting.WaitTimeout:
        return False
    return True
