"""Reads of loyalty's tables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from django.db.models import Case, F, IntegerField, Sum, When

from .models import PointEntry


def balance(customer_id: UUID) -> int:
    """The customer's points: everything awarded minus everything revoked (0 for a
    customer loyalty has never seen)."""
    signed = Case(
        When(kind=PointEntry.Kind.REVOKE, then=-F("points")),
        default=F("points"),
        output_field=IntegerField(),
    )
    total = PointEntry.objects.filter(customer_id=customer_id).aggregate(
        total=Sum(signed, default=0)
    )["total"]
    return int(total)


def entries(customer_id: UUID, *, limit: int = 20) -> list[Mapping[str, Any]]:
    """The customer's point entries, newest first (awards and revocations, by order)."""
    return list(
        PointEntry.objects.filter(customer_id=customer_id)
        .order_by("-recorded_at", "-id")
        .values("order_id", "kind", "points", "recorded_at")[:limit]
    )
