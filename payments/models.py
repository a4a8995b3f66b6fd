"""Payments' own tables.

``Payment`` is this app's record of each order's charge. ``FakeProviderCharge`` and
``FakeProviderRefund`` are not ours in spirit: they are the books of the fake payment
provider (``payments.provider.FakeProvider``), which stands for an outside system, and
only that class reads or writes them.
"""

from __future__ import annotations

from django.db import models

from .contracts import PaymentRefunded, PaymentSucceeded


class Payment(models.Model):
    """One row per order: its latest charge outcome, and its refund."""

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded"
        DECLINED = "declined"
        REFUNDED = "refunded"

    order_id = models.UUIDField(unique=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    payment_method = models.CharField(max_length=64, blank=True)
    charge_reference = models.CharField(max_length=64, blank=True)
    refund_reference = models.CharField(max_length=64, blank=True)
    decline_reason = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"payment of {self.order_id}: {self.status}"

    def succeeded(self) -> PaymentSucceeded:
        return PaymentSucceeded(
            order_id=self.order_id,
            amount=self.amount,
            currency=self.currency,
            payment_reference=self.charge_reference,
        )

    def refunded(self) -> PaymentRefunded:
        return PaymentRefunded(
            order_id=self.order_id,
            amount=self.amount,
            currency=self.currency,
            payment_reference=self.charge_reference,
            refund_reference=self.refund_reference,
        )


class FakeProviderCharge(models.Model):
    """The fake provider's charges, by the client's idempotency key (declines too, as
    a real provider replays any answer it gave to a key)."""

    idempotency_key = models.CharField(max_length=200, unique=True)
    reference = models.CharField(max_length=64, unique=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    payment_method = models.CharField(max_length=64)
    succeeded = models.BooleanField()
    decline_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "payments_fake_provider_charge"

    def __str__(self) -> str:
        return self.reference


class FakeProviderRefund(models.Model):
    """The fake provider's refunds, by idempotency key; full refunds only, so at most
    one per charge."""

    idempotency_key = models.CharField(max_length=200, unique=True)
    reference = models.CharField(max_length=64, unique=True)
    charge = models.OneToOneField(FakeProviderCharge, on_delete=models.PROTECT)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "payments_fake_provider_refund"

    def __str__(self) -> str:
        return self.reference
