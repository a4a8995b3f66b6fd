"""Reads of shipping's tables, for the staff pages the project composes
(``shop/admin.py``)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from .models import Shipment

FIELDS = (
    "tracking_number",
    "status",
    "recipient",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "country",
    "created_at",
    "updated_at",
)


def shipment_of(order_id: UUID) -> dict[str, Any] | None:
    """Shipping's record of an order's shipment, or None when it has none."""
    return Shipment.objects.filter(order_id=order_id).values(*FIELDS).first()


def awaits_dispatch(shipment: dict[str, Any] | None) -> bool:
    """Whether staff can hand this shipment over: it exists and was neither
    cancelled nor dispatched (a dispatch of anything else is refused, or repeats)."""
    return shipment is not None and shipment["status"] == Shipment.Status.CREATED
