"""Idempotency claims on a real PostgreSQL, with real concurrent sessions: a key held
by a transaction-scoped advisory lock refuses a second request at once, the unique
key has the last word when a claim missed a row committed meanwhile, and a request
that dies or hangs inside its transaction loses the key (its work rolls back) so that
another takes it over, after the lease at the latest.

Each concurrent request is a thread with its own connection (closed at its end); the
tests wait for conditions (a thread inside its transaction, the server having ended a
session), each with a bound, never for a time."""

from __future__ import annotations

import threading
from datetime import timedelta
from uuid import uuid4

from django.db import connection, connections, transaction
from django.utils import timezone

import pytest

from events.commands import idempotency
from events.models import IdempotencyKey
from processes.waiting import wait_until
from tests.effects.models import Effect

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
FINGERPRINT = idempotency.fingerprint("op", "{}")
BOUND = 30.0  # seconds: the most any condition is waited for


def claim() -> idempotency.Claim | idempotency.StoredResponse:
    return idempotency.claim(scope="s", key="k", fingerprint=FINGERPRINT)


class Request(threading.Thread):
    """A request in a thread of its own: claims the key in a transaction, signals
    ``inside``, waits for ``go`` (or the bound), then completes it with ``answer``."""

    def __init__(self, answer: str) -> None:
        super().__init__(daemon=True)
        self.answer = answer
        self.inside, self.go = threading.Event(), threading.Event()
        self.pid = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with transaction.atomic():
                held = claim()
                assert isinstance(held, idempotency.Claim)
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    (self.pid,) = cursor.fetchone()
                self.inside.set()
                self.go.wait(BOUND)
                Effect.objects.create(label="work", key=self.answer)
                held.complete(idempotency.StoredResponse(202, self.answer))
        except BaseException as error:
            self.error = error
        finally:
            self.inside.set()
            connections.close_all()

    def finish(self) -> None:
        self.go.set()
        self.join(BOUND)
        assert not self.is_alive()


def started(answer: str) -> Request:
    request = Request(answer)
    request.start()
    assert request.inside.wait(BOUND) and request.error is None, request.error
    return request


def take_over(answer: str) -> bool:
    """One short transaction: claim the key and complete it, if it is free."""
    with transaction.atomic():
        try:
            found = claim()
        except idempotency.KeyInUse:
            return False
        assert isinstance(found, idempotency.Claim)
        found.complete(idempotency.StoredResponse(202, answer))
    return True


def test_while_a_request_holds_the_key_a_second_one_is_refused_at_once():
    # given a request inside its work's transaction, holding the key
    first = started("first")
    # when a second request claims the same key, it is refused without waiting
    with pytest.raises(idempotency.KeyInUse, match="in progress"), transaction.atomic():
        claim()
    # then once the first commits, the second replays its answer
    first.finish()
    assert first.error is None
    with transaction.atomic():
        assert claim() == idempotency.StoredResponse(202, "first")
    assert list(Effect.objects.values_list("key", flat=True)) == ["first"]


def test_a_claim_that_missed_a_key_committed_meanwhile_rolls_its_work_back():
    # given a claim that saw no row for the key
    with pytest.raises(idempotency.KeyInUse), transaction.atomic():
        mine = claim()
        assert isinstance(mine, idempotency.Claim)
        # when another request's answer is committed meanwhile (between this
        # statement's snapshot and its lock)
        other = threading.Thread(target=_commit_answer, args=("other",))
        other.start()
        other.join(BOUND)
        Effect.objects.create(label="work", key="mine")
        # then completing is refused by the unique key, and the work rolls back
        mine.complete(idempotency.StoredResponse(202, "mine"))
    assert not Effect.objects.filter(key="mine").exists()
    with transaction.atomic():
        assert claim() == idempotency.StoredResponse(202, "other")


def _commit_answer(answer: str) -> None:
    try:
        IdempotencyKey.objects.create(
            scope="s",
            key="k",
            fingerprint=FINGERPRINT,
            status="completed",
            attempt=uuid4(),
            response_status=202,
            response_body=answer,
            created_at=timezone.now(),
            locked_at=timezone.now(),
            completed_at=timezone.now(),
        )
    finally:
        connections.close_all()


def test_a_request_that_died_leaves_the_key_free_when_its_session_ends():
    # given a request holding the key, whose process dies (its session ends)
    dead = started("dead")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [dead.pid])
    # then another request takes the key and its answer is the key's
    wait_until(
        lambda: take_over("taker"),
        "the dead request's lock is released",
        BOUND,
        interval=0.02,
    )
    dead.finish()
    assert dead.error is not None  # its work could not commit
    with transaction.atomic():
        assert claim() == idempotency.StoredResponse(202, "taker")
    assert not Effect.objects.filter(key="dead").exists()


def test_a_request_that_hangs_in_its_transaction_loses_the_key_after_the_lease(
    settings,
):
    # given a short lease, and a request that stops inside its work's transaction
    settings.EVENTS_IDEMPOTENCY_LEASE = timedelta(seconds=2)
    hung = started("hung")
    with pytest.raises(idempotency.KeyInUse), transaction.atomic():
        claim()  # within the lease: still its
    # when the lease has run out, PostgreSQL has ended the idle transaction's
    # session, and another request takes the key over
    wait_until(
        lambda: take_over("taker"),
        "the hung request is cut off after its lease",
        BOUND,
        interval=0.02,
    )
    # then the hung request's work cannot commit, and the taker's answer stands
    hung.finish()
    assert "idle-in-transaction timeout" in str(hung.error), hung.error
    assert not Effect.objects.filter(key="hung").exists()
    assert IdempotencyKey.objects.get().response_body == "taker"
