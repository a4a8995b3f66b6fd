"""Reads of customers' tables, for staff pages the project composes (``shop/admin.py``).
Never a token's digest: staff see a token's prefix and dates only."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.utils import timezone

from .models import ApiToken


def tokens_of(customer_id: UUID, *, limit: int = 20) -> list[dict[str, Any]]:
    """A customer's API tokens, newest first, each with ``live`` (unexpired and not
    revoked)."""
    now = timezone.now()
    rows = (
        ApiToken.objects.filter(customer_id=customer_id)
        .order_by("-created_at")
        .values("id", "prefix", "created_at", "expires_at", "revoked_at")[:limit]
    )
    return [
        {**row, "live": row["revoked_at"] is None and row["expires_at"] > now}
        for row in rows
    ]
