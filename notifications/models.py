"""Notifications' own tables: who to write to, whose order it is, what was sent.

``Recipient`` and ``OrderRecipient`` are read models fed by customers' and orders'
events (rebuilt the same from offset 0); ``Notification`` is the record that makes an
order's mail of one kind go out once, whatever the redeliveries."""

from __future__ import annotations

from django.db import models


class Recipient(models.Model):
    """A customer's current email and name (CustomerRegistered, CustomerUpdated)."""

    customer_id = models.UUIDField(primary_key=True)
    email = models.EmailField(max_length=254)
    name = models.CharField(max_length=200)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class OrderRecipient(models.Model):
    """Whose order it is (OrderPlaced), so order events can be mailed to them."""

    order_id = models.UUIDField(primary_key=True)
    customer_id = models.UUIDField()

    def __str__(self) -> str:
        return f"{self.order_id} -> {self.customer_id}"


class Notification(models.Model):
    """One mail per (order, kind): claimed as ``sending`` before the mail server is
    called, marked ``sent`` after it accepted the mail."""

    class Kind(models.TextChoices):
        CONFIRMED = "confirmed"
        REJECTED = "rejected"
        SHIPPED = "shipped"
        CANCELLED = "cancelled"

    class Status(models.TextChoices):
        SENDING = "sending"
        SENT = "sent"

    order_id = models.UUIDField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices)
    email = models.EmailField(max_length=254)
    claimed_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["order_id", "kind"], name="notification_once_per_order_kind"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} mail for {self.order_id} ({self.status})"
