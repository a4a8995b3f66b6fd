"""Loyalty's own tables: what it knows of orders, and a ledger of point entries.

The balance is computed from the ledger (see ``queries.balance``), so there is no
second copy of it to drift. The ledger holds at most one entry per (order, kind):
awarding or revoking an order's points twice is impossible, whatever arrives twice.
"""

from __future__ import annotations

from django.db import models


class OrderView(models.Model):
    """An order as loyalty needs it, recorded from OrderPlaced."""

    order_id = models.UUIDField(unique=True)
    customer_id = models.UUIDField(db_index=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)

    class Meta:
        db_table = "loyalty_order_view"

    def __str__(self) -> str:
        return f"{self.order_id} ({self.amount} {self.currency})"


class PointEntry(models.Model):
    """Points given (``award``) or taken back (``revoke``) for one order; ``points``
    is positive in both cases."""

    class Kind(models.TextChoices):
        AWARD = "award"
        REVOKE = "revoke"

    order_id = models.UUIDField()
    customer_id = models.UUIDField(db_index=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    points = models.PositiveIntegerField()
    recorded_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["order_id", "kind"], name="loyalty_one_entry_per_order_kind"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.points} for {self.order_id}"
