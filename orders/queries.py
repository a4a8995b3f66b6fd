"""Reading orders' read models (the API and the admin use these; never the tables)."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db.models import OuterRef, Q, QuerySet, Subquery

from events import Envelope, WaitTimeout, streams, wait_for_messages, wait_for_position

from .domain import Order
from .domain.state import PaymentStatus
from .models import CustomerView, OrderLineView, OrderSummaryView

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
    first = streams.read(Order.stream_for(order_id), upto_version=1)
    return UUID(first[0].payload["customer_id"]) if first else None


def history(order_id: UUID) -> list[dict[str, Any]]:
    """The order's events: type, version, schema_version, recorded_at, data."""
    return streams.history(Order.stream_for(order_id))


def _latest_event(order_id: UUID) -> Envelope | None:
    stream = Order.stream_for(order_id)
    version = streams.current_version(stream)
    rows = streams.read(stream, after_version=version - 1) if version else []
    return rows[-1] if rows else None


def wait_until_current(order_id: UUID, *, timeout: float) -> bool:
    """Wait (at most ``timeout`` seconds) until the summary has applied the order's
    latest event; False if it has not by then."""
    latest = _latest_event(order_id)
    if latest is None:
        return True
    try:
        wait_for_messages(SUMMARY_SUBSCRIPTION, [latest], timeout=timeout)
    except WaitTimeout:
        return False
    return True


SETTLED = frozenset({"confirmed", "shipped", "rejected", "cancelled"})


def wait_until_settled(order_id: UUID, *, timeout: float) -> bool:
    """Wait (at most ``timeout`` seconds) until the summary shows the order settled:
    confirmed (or shipped since), rejected or cancelled. True when the summary is
    caught up with the order's latest event on return, settled or not (the time ran
    out); False when it is not.

    No sleeping loop: each round waits on the platform's waiting (``events.waiting``),
    first for the summary to apply the order's latest event, then for it to move past
    that event in the order's partition, which it does once the order's next event,
    or any later message of the partition, is applied; both within what is left of
    ``timeout``, so the whole wait is bounded by it."""
    deadline = time.monotonic() + timeout
    while True:
        latest = _latest_event(order_id)
        if latest is None:
            return True
        remaining = deadline - time.monotonic()
        try:
            wait_for_messages(
                SUMMARY_SUBSCRIPTION, [latest], timeout=max(remaining, 0.001)
            )
        except WaitTimeout:
            return False
        status = (
            OrderSummaryView.objects.filter(order_id=order_id)
            .values_list("status", flat=True)
            .first()
        )
        remaining = deadline - time.monotonic()
        if status in SETTLED or remaining <= 0:
            return True
        try:
            wait_for_position(
                SUMMARY_SUBSCRIPTION,
                latest.partition,
                latest.offset + 1,
                timeout=remaining,
            )
        except WaitTimeout:
            return _latest_event(order_id) == latest  # nothing new: still current


# --- for staff (the admin and ``manage.py orders list``) ---------------------------
STATUSES = ("placed", "confirmed", "shipped", "rejected", "cancelled")
PAYMENT_STATUSES = tuple(PaymentStatus)  # the domain's, so the CLI offers each
SHIPMENT_STATUSES = ("none", "created", "shipped", "cancelled")


def staff_orders() -> QuerySet[OrderSummaryView]:
    """Every order, newest first, with its customer's email (``customer_email``,
    from orders' own customer view)."""
    email = CustomerView.objects.filter(customer_id=OuterRef("customer_id"))
    return OrderSummaryView.objects.annotate(
        customer_email=Subquery(email.values("email")[:1])
    ).order_by("-created_at", "-order_id")


def matching(
    orders: QuerySet[OrderSummaryView],
    *,
    customer: str | None = None,
    status: str | None = None,
    payment: str | None = None,
    shipment: str | None = None,
) -> QuerySet[OrderSummaryView]:
    """Orders of a customer (by email, in any case), of a status, a payment
    status and a shipment status; each filter only when given."""
    if customer:
        orders = orders.filter(customer_id__in=_customers_with_email(customer))
    if status:
        orders = orders.filter(status=status)
    if payment:
        orders = orders.filter(payment_status=payment)
    if shipment:
        orders = orders.filter(shipment_status=shipment)
    return orders


def search(orders: QuerySet[OrderSummaryView], text: str) -> QuerySet[OrderSummaryView]:
    """What staff type in the search box: an order id (or a customer's id), the
    start of an order id as the list shows it, a customer's email (whole, or a part
    of one), a tracking number or a payment reference. Exact matches use indexes;
    a part of an email is looked up in the customer view, never in the orders."""
    text = text.strip()
    if not text:
        return orders
    try:
        as_id: UUID | None = UUID(text)
    except ValueError:
        as_id = None
    if as_id is not None:
        return orders.filter(Q(order_id=as_id) | Q(customer_id=as_id))
    if (ids := _id_range(text)) is not None:
        return orders.filter(order_id__range=ids)
    if "@" in text:
        exact = _customers_with_email(text)
        if exact:
            return orders.filter(customer_id__in=exact)
    by_email = list(
        CustomerView.objects.filter(email__icontains=text).values_list(
            "customer_id", flat=True
        )[:1000]
    )
    return orders.filter(
        Q(tracking_number=text.upper())
        | Q(payment_reference=text)
        | Q(customer_id__in=by_email)
    )


SHORT_ID = re.compile(r"[0-9a-f]{8,31}")  # the start of an id, as lists show it


def _id_range(text: str) -> tuple[UUID, UUID] | None:
    """The ids that start with ``text`` (8 hex digits or more, as the lists and the CLI
    show an order: ``91b6248b…``), as a range the primary key's index answers."""
    digits = text.removesuffix("…").replace("-", "").lower()
    if not SHORT_ID.fullmatch(digits):
        return None
    return UUID(digits.ljust(32, "0")), UUID(digits.ljust(32, "f"))


def _customers_with_email(email: str) -> list[UUID]:
    """Customers registered with this email (stored in lower case, so the exact
    lookup uses the index; an email staff typed in another case is found too)."""
    wanted = email.strip()
    views = CustomerView.objects
    found = list(
        views.filter(email=wanted.lower()).values_list("customer_id", flat=True)
    )
    return found or list(
        views.filter(email__iexact=wanted).values_list("customer_id", flat=True)
    )


def has_customer(email: str) -> bool:
    """Whether orders knows a customer with this email (in any case)."""
    return bool(_customers_with_email(email))


def customer_email(customer_id: UUID) -> str | None:
    return (
        CustomerView.objects.filter(customer_id=customer_id)
        .values_list("email", flat=True)
        .first()
    )
