"""The event store: aggregate streams on the same log that subscriptions read.

An aggregate's events are log rows with ``stream`` and ``stream_version`` set, written
in the caller's transaction like any published message, so subscriptions see them in
the same commit. Appends state the version they expect; a unique constraint on
(stream, stream_version) makes two concurrent appends at one version impossible, and
the loser gets ConcurrencyConflict (https://www.postgresql.org/docs/15/index-unique-checks.html:
the second inserter waits for the first to commit, then fails).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from django.db import connection, transaction
from django.db.models import Max

from ..errors import ConcurrencyConflict
from ..log import outbox
from ..log.outbox import NotInTransaction
from ..log.pending import PendingMessage, stamp
from ..log.reader import ENVELOPE_FIELDS
from ..messages import Envelope, Event, decode_json
from ..models import LogEntry


def current_version(stream: str) -> int:
    """The last committed version of a stream (0 when it does not exist)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(MAX(stream_version), 0) FROM events_log WHERE stream = %s",
            [stream],
        )
        (version,) = cursor.fetchone()
    return int(version)


def append(
    stream: str,
    events: Sequence[Event],
    *,
    expected_version: int,
    correlation_id: UUID | None = None,
    causation_id: UUID | None = None,
    verify: bool = True,
) -> list[PendingMessage]:
    """Append events as versions ``expected_version + 1 ...`` of ``stream``, in the
    caller's transaction (they are published like any message).

    Raises ConcurrencyConflict if the stream is elsewhere (now, or when written at the
    end of a unit of work), NotInTransaction outside a transaction. ``verify=False``
    skips reading the stream's version first, for callers whose expected version was
    read from the stream itself (``aggregates.save``): it can then only be behind, and
    a version behind collides with a stored row, which the unique constraint turns
    into the same ConcurrencyConflict (one round trip less on every command)."""
    if not transaction.get_connection().in_atomic_block:
        raise NotInTransaction("append() must run inside transaction.atomic()")
    if not events:
        return []
    keys = {event.message_key() for event in events}
    if len(keys) != 1:
        raise ValueError(f"one stream's events share one key (partition), got {keys}")
    if verify:
        actual = current_version(stream)
        if actual != expected_version:
            raise ConcurrencyConflict(stream, expected_version, actual)
    items = stamp(*events, correlation_id=correlation_id, causation_id=causation_id)
    for version, item in enumerate(items, start=expected_version + 1):
        item.stream, item.stream_version = stream, version
    outbox.add(items)
    return items


def read(
    stream: str,
    *,
    after_version: int = 0,
    upto_version: int | None = None,
    as_of: datetime | None = None,
) -> list[Envelope]:
    """A stream's events in version order: all of them, those after a version (to
    fold onto a snapshot), up to a version, or as recorded up to a point in time."""
    rows = LogEntry.objects.filter(stream=stream, stream_version__gt=after_version)
    if upto_version is not None:
        rows = rows.filter(stream_version__lte=upto_version)
    if as_of is not None:
        rows = rows.filter(recorded_at__lte=as_of)
    values = rows.order_by("stream_version").values_list(*ENVELOPE_FIELDS)
    return [Envelope(*row) for row in values]


_EVENTS_SQL = (
    "SELECT type, version, payload FROM events_log "
    "WHERE stream = %s AND stream_version > %s AND stream_version <= %s "
    "ORDER BY stream_version"
)


def events(
    stream: str, *, after_version: int = 0, upto_version: int | None = None
) -> list[Event]:
    """A stream's events, decoded, for folding an aggregate: only the three columns a
    fold needs, through a plain cursor (this is every command's load)."""
    upto = upto_version if upto_version is not None else 2**31 - 1
    with connection.cursor() as cursor:
        cursor.execute(_EVENTS_SQL, [stream, after_version, upto])
        rows = cursor.fetchall()
    return [  # a stream holds events only (append() takes no command)
        cast(Event, decode_json(type_name, version, payload))
        for type_name, version, payload in rows
    ]


def version_at(stream: str, as_of: datetime) -> int:
    """The version a stream had at a point in time (0 before it existed)."""
    found = LogEntry.objects.filter(stream=stream, recorded_at__lte=as_of).aggregate(
        v=Max("stream_version")
    )
    return found["v"] or 0


def history(stream: str) -> list[dict[str, Any]]:
    """A stream as people read it: type, version, time and data of each event."""
    return [
        {
            "type": e.type,
            "version": e.stream_version,
            "schema_version": e.version,
            "recorded_at": e.recorded_at,
            "data": e.message().model_dump(mode="json"),
        }
        for e in read(stream)
    ]
