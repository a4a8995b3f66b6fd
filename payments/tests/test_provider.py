"""The fake provider behaves like a card processor's test mode, idempotent by key."""

from decimal import Decimal

from django.test import override_settings

import pytest

from payments.models import FakeProviderCharge, FakeProviderRefund
from payments.provider import (
    Declined,
    FakeProvider,
    IdempotencyKeyReused,
    ProviderTimeout,
    ProviderUnavailable,
    UnknownCharge,
    get_provider,
)

pytestmark = pytest.mark.django_db

TEN = Decimal("10.00")


def charge(key="k1", method="pm_card_visa", amount=TEN):
    return FakeProvider().charge(
        idempotency_key=key, amount=amount, currency="eur", payment_method=method
    )


def test_a_visa_test_card_is_charged():
    result = charge()
    assert result.reference.startswith("ch_")
    assert (result.amount, result.currency) == (TEN, "EUR")
    assert FakeProviderCharge.objects.get().succeeded


def test_the_same_key_answers_the_first_charge_and_never_charges_twice():
    first = charge()
    assert charge() == first
    assert FakeProviderCharge.objects.count() == 1


def test_another_key_is_another_charge():
    assert charge("k1") != charge("k2")
    assert FakeProviderCharge.objects.count() == 2


def test_a_declining_card_is_declined_and_the_decline_is_replayed_by_key():
    for _ in range(2):
        with pytest.raises(Declined) as declined:
            charge(method="pm_card_chargeDeclined")
        assert declined.value.reason == "card_declined"
    assert FakeProviderCharge.objects.count() == 1


def test_an_unknown_token_is_declined():
    with pytest.raises(Declined, match="invalid_payment_method"):
        charge(method="pm_nonsense")


def test_an_error_card_fails_transiently_and_records_nothing():
    with pytest.raises(ProviderUnavailable):
        charge(method="pm_card_error")
    assert not FakeProviderCharge.objects.exists()


def test_a_key_reused_for_a_different_charge_is_refused():
    charge()
    with pytest.raises(IdempotencyKeyReused):
        charge(amount=Decimal("11.00"))


def test_a_timeout_is_transient_but_the_provider_charged_and_a_retry_gets_it():
    # given a provider slower than the client's timeout
    with override_settings(
        PAYMENT_PROVIDER_LATENCY_MS=30, PAYMENT_PROVIDER_TIMEOUT_MS=5
    ):
        with pytest.raises(ProviderTimeout):
            charge()
    # then the charge happened, and a retry with the key gets it instead of a second
    assert FakeProviderCharge.objects.count() == 1
    assert charge().reference == FakeProviderCharge.objects.get().reference


def test_a_refund_is_idempotent_by_key_and_a_charge_is_refunded_once():
    provider, charged = FakeProvider(), charge()
    first = provider.refund(idempotency_key="r1", charge_reference=charged.reference)
    assert (first.amount, first.charge_reference) == (TEN, charged.reference)
    assert provider.refund(idempotency_key="r1", charge_reference=charged.reference)
    again = provider.refund(idempotency_key="r2", charge_reference=charged.reference)
    assert again == first
    assert FakeProviderRefund.objects.count() == 1


def test_refunding_an_unknown_or_declined_charge_is_refused():
    with pytest.raises(Declined):
        charge(method="pm_card_chargeDeclined")
    declined = FakeProviderCharge.objects.get().reference
    for reference in ("ch_nope", declined):
        with pytest.raises(UnknownCharge):
            FakeProvider().refund(idempotency_key="r", charge_reference=reference)


class OtherProvider(FakeProvider):
    pass


def test_the_provider_is_chosen_by_setting():
    assert isinstance(get_provider(), FakeProvider)
    with override_settings(PAYMENT_PROVIDER=f"{__name__}.OtherProvider"):
        assert isinstance(get_provider(), OtherProvider)
