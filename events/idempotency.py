"""Idempotency keys for requests that change state: a retry with the same key gets the
first answer again instead of doing the work twice.

The practice of card processors, written down by the IETF httpapi draft
(https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/): the key
is the client's, scoped (here by the caller, e.g. per customer); the first request's
fingerprint is kept with it, and:

* a key seen for the first time is committed *in flight* before the work starts, so
  a second request with it, while the first runs, is refused (:class:`KeyInUse`);
* the work completes the key with its response *in the work's own transaction*
  (``events.bus.execute(before_commit=...)``): the response is stored if and only if
  the work committed, so a retry replays exactly what happened;
* a request that ends in a client error completes the key with that error (a retry
  gets the same answer); one that fails with a server error abandons the key (the row
  is deleted) so that a retry may run the work again;
* the same key with another request is refused (:class:`KeyReused`);
* a key expires ``EVENTS_IDEMPOTENCY_TTL`` after its first use (24 h by default): an
  expired key counts as new, and ``prune`` deletes expired rows;
* a key left in flight by a request that died is taken over after
  ``EVENTS_IDEMPOTENCY_LEASE``; the taker gets a new attempt id, so the dead request,
  if it was only slow, can no longer complete it and its work rolls back: at most
  one piece of work ever commits per key.

Nothing here knows about HTTP frameworks or shops: callers pass strings and store
responses as status, headers and body text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID, uuid4

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from celery import shared_task

from .models import IdempotencyKey

MAX_KEY_LENGTH = 255
Status = IdempotencyKey.Status


class IdempotencyError(Exception):
    """The key cannot be used for this request."""


class InvalidKey(IdempotencyError):
    """Empty, longer than MAX_KEY_LENGTH, or not printable ASCII (an sf-string)."""


class KeyInUse(IdempotencyError):
    """Another request with this key has not completed yet."""


class KeyReused(IdempotencyError):
    """The key was first used for a different request."""


@dataclass(frozen=True)
class StoredResponse:
    """A response as replayed: status, the headers worth repeating, and the body."""

    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Attempt:
    """This request holds the key in flight; it must ``complete`` or ``abandon`` it."""

    row_id: int
    token: UUID

    def complete(self, response: StoredResponse) -> None:
        """Store the response. Call it inside the work's transaction so that both
        commit together (outside one it is a single autocommitted update).

        Raises KeyInUse when another request took the key over meanwhile: raised
        inside the work's transaction, it rolls the work back."""
        updated = IdempotencyKey.objects.filter(
            pk=self.row_id, attempt=self.token, status=Status.IN_FLIGHT
        ).update(
            status=Status.COMPLETED,
            response_status=response.status,
            response_headers=dict(response.headers),
            response_body=response.body,
            completed_at=timezone.now(),
        )
        if not updated:
            raise KeyInUse("another request took this idempotency key over")

    def abandon(self) -> None:
        """Forget the key (the work failed on the server's side): a retry runs anew."""
        IdempotencyKey.objects.filter(
            pk=self.row_id, attempt=self.token, status=Status.IN_FLIGHT
        ).delete()


_HELD = "_idempotency_attempt"


def attach(holder: object, attempt: Attempt) -> None:
    """Remember the attempt on the object that carries the request (e.g. the HTTP
    request), so that whoever renders its final answer can settle the key: complete
    it with a client error, abandon it on a server error (``detach``)."""
    setattr(holder, _HELD, attempt)


def detach(holder: object) -> Attempt | None:
    """The attempt still to settle for this request, if any (and forget it)."""
    attempt = getattr(holder, _HELD, None)
    if attempt is not None:
        setattr(holder, _HELD, None)
    return attempt


def fingerprint(*parts: str | bytes) -> str:
    """A digest of what identifies a request (method, path, canonical body...)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))  # unambiguous concatenation
        digest.update(data)
    return digest.hexdigest()


def check_key(key: str) -> None:
    """Raise InvalidKey unless the key is 1..255 printable ASCII characters."""
    if not key:
        raise InvalidKey("the Idempotency-Key must not be empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKey(
            f"the Idempotency-Key is {len(key)} characters long; "
            f"at most {MAX_KEY_LENGTH} are allowed"
        )
    if not all(" " <= char <= "~" for char in key):
        raise InvalidKey("the Idempotency-Key must be printable ASCII")


def begin(
    *, scope: str, key: str, fingerprint: str, now: datetime | None = None
) -> Attempt | StoredResponse:
    """Start a request with an idempotency key: an Attempt to run the work under, or
    the stored response to replay. Raises InvalidKey, KeyInUse or KeyReused.

    The in-flight row is committed at once (its own short transaction), before the
    work starts: that is what lets a concurrent request see it."""
    check_key(key)
    now = now or timezone.now()
    expired_before = now - settings.EVENTS_IDEMPOTENCY_TTL
    for _ in range(5):  # each turn loses a race to another request at most once
        row = IdempotencyKey.objects.filter(scope=scope, key=key).first()
        if row is None:
            token = uuid4()
            try:
                with transaction.atomic():
                    _no_flush_wait()
                    row = IdempotencyKey.objects.create(
                        scope=scope,
                        key=key,
                        fingerprint=fingerprint,
                        attempt=token,
                        created_at=now,
                        locked_at=now,
                    )
            except IntegrityError:
                continue  # another request created it just now: look again
            return Attempt(row.pk, token)
        if row.created_at <= expired_before:
            IdempotencyKey.objects.filter(pk=row.pk, attempt=row.attempt).delete()
            continue  # expired: the key is new again
        if row.fingerprint != fingerprint:
            raise KeyReused(
                "this Idempotency-Key was already used for a different request"
            )
        if row.status == Status.COMPLETED:
            return StoredResponse(
                status=row.response_status or 200,
                body=row.response_body,
                headers=dict(row.response_headers),
            )
        if row.locked_at > now - settings.EVENTS_IDEMPOTENCY_LEASE:
            raise KeyInUse(
                "a request with this Idempotency-Key is still in progress; retry later"
            )
        token = uuid4()
        taken = IdempotencyKey.objects.filter(
            pk=row.pk, attempt=row.attempt, status=Status.IN_FLIGHT
        ).update(attempt=token, locked_at=now)
        if taken:
            return Attempt(row.pk, token)
    raise KeyInUse("this Idempotency-Key is contended; retry later")


def _no_flush_wait() -> None:
    """Commit the in-flight marker without waiting for its WAL flush (PostgreSQL's
    ``synchronous_commit = off`` for this transaction only): it is visible to other
    sessions at once, which is all it is for, and a server crash losing it only
    frees the key, whose work then fails to complete it and rolls back. The work's
    own transaction stays fully durable. (A commit's flush wait is a large part of
    accepting an order.) See
    https://www.postgresql.org/docs/current/wal-async-commit.html"""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def prune(*, now: datetime | None = None, batch: int | None = None) -> int:
    """Delete expired keys in short batches; returns how many were deleted."""
    cutoff = (now or timezone.now()) - settings.EVENTS_IDEMPOTENCY_TTL
    batch = batch or settings.EVENTS_PRUNE_BATCH
    total = 0
    while True:
        ids = list(
            IdempotencyKey.objects.filter(created_at__lte=cutoff).values_list(
                "pk", flat=True
            )[:batch]
        )
        if not ids:
            return total
        deleted, _ = IdempotencyKey.objects.filter(pk__in=ids).delete()
        total += deleted


@shared_task(name="events.prune_idempotency_keys")
def prune_expired() -> int:
    """Celery beat's hourly prune (registered through CELERY_IMPORTS, see settings)."""
    return prune()
