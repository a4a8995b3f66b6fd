"""Reads of payments' tables, for the staff pages the project composes
(``shop/admin.py``)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from .models import Payment

FIELDS = (
    "status",
    "amount",
    "currency",
    "payment_method",
    "charge_reference",
    "refund_reference",
    "decline_reason",
    "updated_at",
)


def payment_of(order_id: UUID) -> dict[str, Any] | None:
    """Payments' record of an order's charge (its latest outcome and its refund), or
    None when payments never handled a charge or refund of it."""
    return Payment.objects.filter(order_id=order_id).values(*FIELDS).first()
