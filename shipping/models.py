"""Shipping's own tables: one shipment per order."""

from __future__ import annotations

import base64
import hashlib
from uuid import UUID

from django.db import models


def tracking_number(order_id: UUID) -> str:
    """``TRK`` and 10 characters derived from the order id (50 bits of its SHA-256,
    base32), so a redelivered create gets the same number."""
    digest = hashlib.sha256(order_id.bytes).digest()
    return "TRK" + base64.b32encode(digest).decode()[:10]


class Shipment(models.Model):
    class Status(models.TextChoices):
        CREATED = "created"
        CANCELLED = "cancelled"
        DISPATCHED = "dispatched"

    order_id = models.UUIDField(unique=True)
    tracking_number = models.CharField(max_length=13, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    recipient = models.CharField(max_length=200, blank=True)
    address_line1 = models.CharField(max_length=200, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    city = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=2, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.tracking_number} ({self.status})"
