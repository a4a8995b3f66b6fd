"""Idempotency keys (events.idempotency): at most one piece of work commits per key,
even when a slow request's key is taken over after its lease."""

from datetime import timedelta
from uuid import uuid4

from django.db import transaction
from django.utils import timezone

import pytest

from events.commands import idempotency
from events.models import IdempotencyKey

pytestmark = pytest.mark.django_db(transaction=True)
FINGERPRINT = idempotency.fingerprint("op", "{}")


def left_in_flight(*, locked_at):
    """A key the release before this one committed in flight before its work (it
    completed the row, matching its attempt id, in the work's transaction)."""
    return IdempotencyKey.objects.create(
        scope="s",
        key="k",
        fingerprint=FINGERPRINT,
        attempt=uuid4(),
        created_at=locked_at,
        locked_at=locked_at,
    )


@pytest.mark.parametrize("key", ["", "k" * 256, "caf\u00e9", "tab\there"])
def test_keys_are_1_to_255_printable_ascii_characters(key):
    with pytest.raises(idempotency.InvalidKey), transaction.atomic():
        idempotency.claim(scope="s", key=key, fingerprint=FINGERPRINT)


# --- claim: the key held in the work's own transaction ------------------------------


class WorkFailed(Exception):
    pass


def claim(**kw):
    return idempotency.claim(scope="s", key="k", fingerprint=FINGERPRINT, **kw)


def test_a_claim_completed_in_its_works_transaction_commits_with_it_and_is_replayed():
    # given a request whose work and key commit together
    placed = idempotency.StoredResponse(202, "placed", {"Location": "/o/1"})
    with transaction.atomic():
        held = claim()
        assert isinstance(held, idempotency.Claim)
        held.complete(placed)
    # then a retry replays its answer
    with transaction.atomic():
        assert claim() == placed
    assert IdempotencyKey.objects.get().status == "completed"


def test_a_claim_whose_work_rolls_back_leaves_nothing_and_the_key_free():
    with pytest.raises(WorkFailed), transaction.atomic():
        claim().complete(idempotency.StoredResponse(202, "placed"))
        raise WorkFailed
    assert not IdempotencyKey.objects.exists()
    with transaction.atomic():
        assert isinstance(claim(), idempotency.Claim)


def test_a_client_error_completes_the_claim_after_its_work_rolled_back():
    # given work that failed with a client error (its transaction rolled back)
    with pytest.raises(WorkFailed), transaction.atomic():
        held = claim()
        raise WorkFailed
    # when the error's answer is stored (as shop.api.problems does)
    held.complete(idempotency.StoredResponse(409, "out of stock"))
    # then a retry gets that answer
    with transaction.atomic():
        assert claim() == idempotency.StoredResponse(409, "out of stock")


def test_a_claim_needs_the_works_transaction():
    with pytest.raises(RuntimeError, match="transaction"):
        claim()


def test_the_same_key_for_another_request_is_refused_by_a_claim():
    with transaction.atomic():
        claim().complete(idempotency.StoredResponse(202, "placed"))
    with pytest.raises(idempotency.KeyReused), transaction.atomic():
        idempotency.claim(scope="s", key="k", fingerprint=idempotency.fingerprint("x"))


def test_a_claim_honours_a_key_left_in_flight_and_takes_it_over_after_the_lease(
    settings,
):
    # given a key held in flight by a request of the release before
    slow = left_in_flight(
        locked_at=timezone.now() - settings.EVENTS_IDEMPOTENCY_LEASE / 2
    )
    with pytest.raises(idempotency.KeyInUse), transaction.atomic():
        claim()
    # once its lease ran out, a claim takes the key over
    IdempotencyKey.objects.update(
        locked_at=timezone.now() - settings.EVENTS_IDEMPOTENCY_LEASE * 2
    )
    with transaction.atomic():
        taker = claim()
        assert isinstance(taker, idempotency.Claim)
        taker.complete(idempotency.StoredResponse(202, "taker"))
    # and the slow one, completing by its attempt id, no longer finds the row
    row = IdempotencyKey.objects.get()
    assert row.attempt != slow.attempt and row.status == "completed"
    with transaction.atomic():
        assert claim().body == "taker"


def test_a_claim_that_took_over_a_key_left_in_flight_frees_it_when_abandoned(settings):
    left_in_flight(locked_at=timezone.now() - settings.EVENTS_IDEMPOTENCY_LEASE * 2)
    with pytest.raises(WorkFailed), transaction.atomic():
        taker = claim()
        raise WorkFailed
    taker.abandon()
    assert not IdempotencyKey.objects.exists()


def test_an_expired_key_is_new_again_for_a_claim():
    with transaction.atomic():
        claim().complete(idempotency.StoredResponse(202, "first"))
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    with transaction.atomic():
        held = claim(now=timezone.now())
        assert isinstance(held, idempotency.Claim)
        held.complete(idempotency.StoredResponse(202, "second"))
    row = IdempotencyKey.objects.get()
    assert row.response_body == "second"
    assert row.created_at > timezone.now() - timedelta(minutes=5)
