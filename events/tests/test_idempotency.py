"""Idempotency keys (events.idempotency): at most one piece of work commits per key,
even when a slow request's key is taken over after its lease."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

import pytest

from events import idempotency
from events.models import IdempotencyKey

pytestmark = pytest.mark.django_db(transaction=True)
FINGERPRINT = idempotency.fingerprint("op", "{}")


def begin(**kw):
    return idempotency.begin(scope="s", key="k", fingerprint=FINGERPRINT, **kw)


def test_a_completed_key_replays_its_response():
    attempt = begin()
    attempt.complete(idempotency.StoredResponse(201, '{"id": 1}', {"Location": "/x"}))
    assert begin() == idempotency.StoredResponse(201, '{"id": 1}', {"Location": "/x"})


def test_a_slow_request_whose_key_was_taken_over_cannot_complete_it():
    # given a request whose key was taken over after its lease ran out
    slow = begin(now=timezone.now() - timedelta(minutes=5))
    taker = begin()
    assert isinstance(taker, idempotency.Attempt) and taker.token != slow.token
    # when the slow one completes inside its work's transaction, the work rolls back
    with pytest.raises(idempotency.KeyInUse), transaction.atomic():
        IdempotencyKey.objects.create(  # stands for the work's own writes
            scope="work",
            key="w",
            fingerprint="f",
            attempt=slow.token,
            created_at=timezone.now(),
            locked_at=timezone.now(),
        )
        slow.complete(idempotency.StoredResponse(202, "slow"))
    assert not IdempotencyKey.objects.filter(scope="work").exists()
    # and the taker's answer is the key's
    taker.complete(idempotency.StoredResponse(202, "taker"))
    assert begin().body == "taker"


def test_abandoning_frees_the_key():
    begin().abandon()
    assert isinstance(begin(), idempotency.Attempt)


@pytest.mark.parametrize("key", ["", "k" * 256, "caf\u00e9", "tab\there"])
def test_keys_are_1_to_255_printable_ascii_characters(key):
    with pytest.raises(idempotency.InvalidKey):
        idempotency.begin(scope="s", key=key, fingerprint=FINGERPRINT)
