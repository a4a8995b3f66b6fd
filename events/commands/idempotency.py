"""Idempotency keys for requests that change state: a retry with the same key gets the
first answer again instead of doing the work twice.

The practice of card processors, written down by the IETF httpapi draft
(https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/): the key
is the client's, scoped (here by the caller, e.g. per customer); the first request's
fingerprint is kept with it, and:

* a request holds its key while its work runs, so a second request with it, meanwhile,
  is refused (:class:`KeyInUse`);
* the work completes the key with its response *in the work's own transaction*: the
  response is stored if and only if the work committed, so a retry replays exactly
  what happened;
* a request that ends in a client error completes the key with that error (a retry
  gets the same answer); one that fails with a server error leaves the key free, so
  that a retry may run the work again;
* the same key with another request is refused (:class:`KeyReused`);
* a key expires ``EVENTS_IDEMPOTENCY_TTL`` after its first use (24 h by default): an
  expired key counts as new, and ``prune`` deletes expired rows;
* a key held by a request that died is taken over after ``EVENTS_IDEMPOTENCY_LEASE``
  at the latest: at most one piece of work ever commits per key.

How a key is held (:func:`claim`, inside the work's transaction, as ``events.once``
does): one commit for the key and the work. On PostgreSQL the key is held by a
transaction-scoped advisory lock on its hash, taken (never waited for) by the same
statement that reads the key's row; the completed row is inserted before commit. A
concurrent request finds the lock taken: KeyInUse at once. A request that dies takes
its lock with it (its session ends: at once for a dead process, within the production
settings' TCP keepalives for a vanished machine), and a request that hangs with its
transaction open is cut off by PostgreSQL after the lease
(``idle_in_transaction_session_timeout``, set for that transaction only): either way
its work rolls back and the key is free. The unique (scope, key) constraint is the
last word: whoever inserts second rolls back (KeyInUse). On SQLite (one process,
writers serialized from BEGIN) a concurrent request waits for the first to finish,
then replays its answer.

Rows *in flight* were written by the release before this one, which committed the
key before the work and completed it after: a claim honours such a row until its
lease runs out, then takes it over with a new attempt id, so the old request, if it
was only slow, can no longer complete it and its work rolls back.

Nothing here knows about HTTP frameworks or shops: callers pass strings and store
responses as status, headers and body text.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..models import IdempotencyKey

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


IN_PROGRESS = "a request with this Idempotency-Key is still in progress; retry later"
_ATTEMPT = IdempotencyKey._meta.get_field("attempt")
_COMPLETED_ELSEWHERE = "another request's answer was stored for this idempotency key"


@dataclass(frozen=True)
class Claim:
    """This request holds the key for as long as its work's transaction runs; it must
    ``complete`` it in that transaction (or, once the work failed, after it: with a
    client error) or ``abandon`` it (a server error).

    ``replaces`` is the (id, attempt, status) of a row the completion supersedes: an
    expired key's, or one left in flight past its lease (the release before)."""

    scope: str
    key: str
    fingerprint: str
    now: datetime
    first_used: datetime
    replaces: tuple[int, UUID, str] | None = None

    def complete(self, response: StoredResponse) -> None:
        """Store the response: in the work's transaction, it commits with the work;
        outside one, it is a single autocommitted statement.

        Raises KeyInUse when another request's answer got there first (then, inside
        the work's transaction, the work rolls back)."""
        if self.replaces is not None:
            row_id, attempt, status = self.replaces
            updated = IdempotencyKey.objects.filter(
                pk=row_id, attempt=attempt, status=status
            ).update(
                fingerprint=self.fingerprint,
                status=Status.COMPLETED,
                attempt=uuid4(),
                created_at=self.first_used,
                locked_at=self.now,
                response_status=response.status,
                response_headers=dict(response.headers),
                response_body=response.body,
                completed_at=timezone.now(),
            )
            if not updated:
                raise KeyInUse(_COMPLETED_ELSEWHERE)
            return
        ops = connection.ops
        when = ops.adapt_datetimefield_value(self.now)
        with connection.cursor() as cursor:
            cursor.execute(
                _INSERT_SQL.format(json=_json_param()),
                [
                    self.scope,
                    self.key,
                    self.fingerprint,
                    Status.COMPLETED,
                    _ATTEMPT.get_db_prep_value(uuid4(), connection),
                    response.status,
                    json.dumps(dict(response.headers)),
                    response.body,
                    when,
                    when,
                    ops.adapt_datetimefield_value(timezone.now()),
                ],
            )
            inserted = cursor.fetchone()
        if inserted is None:
            raise KeyInUse(_COMPLETED_ELSEWHERE)

    def abandon(self) -> None:
        """Leave the key free (the work failed on the server's side). The work's
        transaction rolled back, taking the lock and the completion with it; only a
        row left in flight that this request took over is deleted (as its first holder
        would have done)."""
        if self.replaces is not None and self.replaces[2] == Status.IN_FLIGHT:
            row_id, attempt, status = self.replaces
            IdempotencyKey.objects.filter(
                pk=row_id, attempt=attempt, status=status
            ).delete()


_CLAIM_COLUMNS = (
    "k.id, k.fingerprint, k.status, k.attempt, k.created_at, k.locked_at,"
    " k.response_status, k.response_headers, k.response_body"
    " FROM (SELECT 1) AS one LEFT JOIN events_idempotency_key AS k"
    ' ON k.scope = %s AND k."key" = %s'
)
# The lock and the read in one round trip. Both see the statement's snapshot, taken
# before the lock: a holder that committed its row in between is missed here, and its
# row then refuses this request's completion (the unique constraint): KeyInUse.
_CLAIM_SQL_PG = (
    "SELECT pg_try_advisory_xact_lock(%s),"
    " set_config('idle_in_transaction_session_timeout', %s, true), " + _CLAIM_COLUMNS
)
_CLAIM_SQL = "SELECT 1, NULL, " + _CLAIM_COLUMNS
_INSERT_SQL = (
    'INSERT INTO events_idempotency_key (scope, "key", fingerprint, status, attempt,'
    " response_status, response_headers, response_body, created_at, locked_at,"
    " completed_at) VALUES (%s, %s, %s, %s, %s, %s, {json}, %s, %s, %s, %s)"
    ' ON CONFLICT (scope, "key") DO NOTHING RETURNING id'
)


def _json_param() -> str:
    return "%s::jsonb" if connection.vendor == "postgresql" else "%s"


def lock_id(scope: str, key: str) -> int:
    """The key's advisory lock: a signed 64-bit hash of scope and key (the one-bigint
    lock space, apart from the drains' two-integer locks)."""
    digest = hashlib.sha256(
        scope.encode("utf-8", "surrogatepass") + b"\0" + key.encode()
    ).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def claim(
    *, scope: str, key: str, fingerprint: str, now: datetime | None = None
) -> Claim | StoredResponse:
    """Hold the key for the work of the transaction open now: a Claim to complete in
    it, or the stored response to replay. Raises InvalidKey, KeyInUse or KeyReused.

    One statement: the key's lock (never waited for) and its row."""
    check_key(key)
    if not connection.in_atomic_block:
        raise RuntimeError("claim() holds the key in the work's transaction: open one")
    now = now or timezone.now()
    lease = settings.EVENTS_IDEMPOTENCY_LEASE
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            lease_ms = str(max(int(lease.total_seconds() * 1000), 1))
            cursor.execute(_CLAIM_SQL_PG, [lock_id(scope, key), lease_ms, scope, key])
        else:
            cursor.execute(_CLAIM_SQL, [scope, key])
        locked, _, row_id, *row = cursor.fetchone()
    if not locked:
        raise KeyInUse(IN_PROGRESS)
    if row_id is None:
        return Claim(scope, key, fingerprint, now, first_used=now)
    seen_fingerprint, status, attempt, created_at, locked_at, *response = row
    replaces = (row_id, UUID(str(attempt)), status)
    if _aware(created_at) <= now - settings.EVENTS_IDEMPOTENCY_TTL:
        # expired: the key is new again
        return Claim(scope, key, fingerprint, now, first_used=now, replaces=replaces)
    if seen_fingerprint != fingerprint:
        raise KeyReused("this Idempotency-Key was already used for a different request")
    if status == Status.COMPLETED:
        return _stored(*response)
    if _aware(locked_at) > now - lease:
        raise KeyInUse(IN_PROGRESS)
    # left in flight by a request of the release before that died: taken over
    return Claim(
        scope, key, fingerprint, now, first_used=_aware(created_at), replaces=replaces
    )


def _stored(status: int | None, headers: Any, body: str) -> StoredResponse:
    if isinstance(headers, str):
        headers = json.loads(headers)
    return StoredResponse(status=status or 200, body=body, headers=dict(headers))


def _aware(value: datetime | str) -> datetime:
    """A timestamp read through a plain cursor (SQLite gives text, naive UTC)."""
    when = value if isinstance(value, datetime) else parse_datetime(value)
    if when is None:
        raise ValueError(f"not a timestamp: {value!r}")
    return when if timezone.is_aware(when) else when.replace(tzinfo=UTC)


_HELD = "_idempotency_attempt"


def attach(holder: object, attempt: Claim) -> None:
    """Remember the attempt on the object that carries the request (e.g. the HTTP
    request), so that whoever renders its final answer can settle the key: complete
    it with a client error, abandon it on a server error (``detach``)."""
    setattr(holder, _HELD, attempt)


def detach(holder: object) -> Claim | None:
    """The attempt still to settle for this request, if any (and forget it)."""
    attempt: Claim | None = getattr(holder, _HELD, None)
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


def prune_expired_keys(*, now: datetime | None = None, batch: int | None = None) -> int:
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
