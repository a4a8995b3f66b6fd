"""The payment provider adapter, and a fake that behaves like a card processor's test
mode.

A provider is reached through :class:`PaymentProvider`; ``get_provider()`` builds the
one named by the ``PAYMENT_PROVIDER`` setting (default ``FakeProvider``), so a real
adapter replaces the fake without touching the handlers.

Every call carries the client's idempotency key. A provider keeps its own record by
key and answers a repeated key with its first answer (success or decline), so a
retried or redelivered command never charges or refunds twice. That is what makes a
timeout safe to retry: the provider may have charged before the client gave up.

Errors: :class:`Declined` is an answer (the card was refused; not worth retrying with
the same key); :class:`ProviderUnavailable` and its :class:`ProviderTimeout` are
transient (retry with the same key); any other :class:`ProviderError` is a bad
request (a retry fails the same way, so the message ends in the dead letters).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.module_loading import import_string

from .models import FakeProviderCharge, FakeProviderRefund

DEFAULT_PROVIDER = "payments.provider.FakeProvider"
DEFAULT_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class ChargeResult:
    reference: str
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class RefundResult:
    reference: str
    charge_reference: str
    amount: Decimal
    currency: str


class ProviderError(Exception):
    """The provider refused the request itself (bad or conflicting request)."""


class Declined(ProviderError):
    """The charge was refused (card declined, unknown payment method)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProviderUnavailable(ProviderError):
    """Transient: the provider failed or could not be reached; retry with the key."""


class ProviderTimeout(ProviderUnavailable):
    """Transient: no answer within the client timeout. The provider may still have
    acted, which is why a retry must reuse the idempotency key."""


class IdempotencyKeyReused(ProviderError):
    """A key already used for a request with different parameters."""


class UnknownCharge(ProviderError):
    """A refund of a charge the provider does not have (or that did not succeed)."""


class PaymentProvider(Protocol):
    """What payments needs from a provider. Implementations are called with no
    database transaction open, and must be idempotent by ``idempotency_key``."""

    def charge(
        self,
        *,
        idempotency_key: str,
        amount: Decimal,
        currency: str,
        payment_method: str,
    ) -> ChargeResult:
        """Charge, or raise Declined, ProviderUnavailable or ProviderTimeout."""
        ...

    def refund(self, *, idempotency_key: str, charge_reference: str) -> RefundResult:
        """Refund a charge in full, or raise ProviderUnavailable/ProviderTimeout."""
        ...


def get_provider() -> PaymentProvider:
    """The provider named by ``settings.PAYMENT_PROVIDER`` (a dotted class path)."""
    path = getattr(settings, "PAYMENT_PROVIDER", DEFAULT_PROVIDER)
    return import_string(path)()


# --- the fake ---------------------------------------------------------------------

SUCCEEDS, DECLINES, FAILS = "pm_card_visa", "pm_card_chargeDeclined", "pm_card_error"


class FakeProvider:
    """A card processor's test mode: ``pm_card_visa`` succeeds,
    ``pm_card_chargeDeclined`` is declined (``card_declined``), ``pm_card_error``
    fails transiently (nothing recorded), any other token is declined
    (``invalid_payment_method``).

    Each call waits ``PAYMENT_PROVIDER_LATENCY_MS``; when that exceeds the client's
    ``PAYMENT_PROVIDER_TIMEOUT_MS`` (default 10 s) the client gives up after the
    timeout with ProviderTimeout, but the provider has acted and recorded its answer,
    as a real one would. Its books (``payments_fake_provider_charge`` and ``_refund``)
    are written in their own short transaction, standing for the outside system's
    database; the handlers never read them.
    """

    def charge(
        self,
        *,
        idempotency_key: str,
        amount: Decimal,
        currency: str,
        payment_method: str,
    ) -> ChargeResult:
        timed_out = _network()
        if payment_method == FAILS:
            raise ProviderUnavailable("the provider failed to process the charge")
        done = _charge_once(
            idempotency_key=idempotency_key,
            amount=amount,
            currency=currency.upper(),
            payment_method=payment_method,
        )
        if timed_out:
            raise ProviderTimeout(f"no answer within {_timeout_ms()} ms")
        if not done.succeeded:
            raise Declined(done.decline_reason)
        return ChargeResult(
            reference=done.reference, amount=done.amount, currency=done.currency
        )

    def refund(self, *, idempotency_key: str, charge_reference: str) -> RefundResult:
        timed_out = _network()
        done = _refund_once(
            idempotency_key=idempotency_key, charge_reference=charge_reference
        )
        if timed_out:
            raise ProviderTimeout(f"no answer within {_timeout_ms()} ms")
        return RefundResult(
            reference=done.reference,
            charge_reference=done.charge.reference,
            amount=done.amount,
            currency=done.currency,
        )


def _timeout_ms() -> int:
    return int(getattr(settings, "PAYMENT_PROVIDER_TIMEOUT_MS", DEFAULT_TIMEOUT_MS))


def _network() -> bool:
    """Wait as a round trip would (at most the client timeout); True when timed out."""
    latency, timeout = settings.PAYMENT_PROVIDER_LATENCY_MS, _timeout_ms()
    if latency > 0:
        time.sleep(min(latency, timeout) / 1000)
    return latency > timeout


def _charge_once(
    *, idempotency_key: str, amount: Decimal, currency: str, payment_method: str
) -> FakeProviderCharge:
    """The charge recorded under the key: the first one, or a new one."""
    existing = FakeProviderCharge.objects.filter(
        idempotency_key=idempotency_key
    ).first()
    if existing is None:
        reason = {SUCCEEDS: "", DECLINES: "card_declined"}.get(
            payment_method, "invalid_payment_method"
        )
        try:
            with transaction.atomic():
                return FakeProviderCharge.objects.create(
                    idempotency_key=idempotency_key,
                    reference=f"ch_{uuid.uuid4().hex[:24]}",
                    amount=amount,
                    currency=currency,
                    payment_method=payment_method,
                    succeeded=not reason,
                    decline_reason=reason,
                )
        except IntegrityError:  # a concurrent call with the same key won
            existing = FakeProviderCharge.objects.get(idempotency_key=idempotency_key)
    if (existing.amount, existing.currency, existing.payment_method) != (
        amount,
        currency,
        payment_method,
    ):
        raise IdempotencyKeyReused(
            f"key {idempotency_key!r} was used for a different charge"
        )
    return existing


def _refund_once(*, idempotency_key: str, charge_reference: str) -> FakeProviderRefund:
    """The refund recorded under the key, or the charge's refund (full refunds only:
    a charge is refunded at most once whatever the key), or a new one."""
    existing = (
        FakeProviderRefund.objects.select_related("charge")
        .filter(idempotency_key=idempotency_key)
        .first()
    )
    if existing is not None:
        if existing.charge.reference != charge_reference:
            raise IdempotencyKeyReused(
                f"key {idempotency_key!r} was used to refund another charge"
            )
        return existing
    charge = FakeProviderCharge.objects.filter(
        reference=charge_reference, succeeded=True
    ).first()
    if charge is None:
        raise UnknownCharge(f"no successful charge {charge_reference!r}")
    try:
        with transaction.atomic():
            return FakeProviderRefund.objects.create(
                idempotency_key=idempotency_key,
                reference=f"re_{uuid.uuid4().hex[:24]}",
                charge=charge,
                amount=charge.amount,
                currency=charge.currency,
            )
    except IntegrityError:  # refunded already (or concurrently) under another key
        return FakeProviderRefund.objects.select_related("charge").get(charge=charge)
