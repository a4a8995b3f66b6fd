"""Loading and saving event-sourced aggregates (``events.store.aggregate``).

Loading reads the newest snapshot of the aggregate's current ``snapshot_version`` (if
any) and the events after it, in one round trip, and folds those events; saving
appends the new events at the version the aggregate was loaded at (so a concurrent
change is a ConcurrencyConflict) and takes a snapshot every ``snapshot_every`` events
(``EVENTS_SNAPSHOT_EVERY`` overrides it per stream prefix).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar, cast
from uuid import UUID

from django.conf import settings
from django.db import connection
from django.utils import timezone

from ..log.pending import PendingMessage
from ..messages import Event, decode_json
from ..models import Snapshot
from . import streams
from .aggregate import Aggregate

A = TypeVar("A", bound="Aggregate[Any]")


def snapshot_interval(cls: type[Aggregate[Any]]) -> int:
    overrides: dict[str, int] = getattr(settings, "EVENTS_SNAPSHOT_EVERY", {})
    return overrides.get(cls.stream_prefix, cls.snapshot_every)


def load(
    cls: type[A],
    aggregate_id: UUID,
    *,
    upto_version: int | None = None,
    as_of: datetime | None = None,
    use_snapshots: bool = True,
) -> A:
    """The aggregate as it stands now, at a version, or at a point in time."""
    aggregate = cls(aggregate_id)
    stream = aggregate.stream
    if as_of is not None:
        upto_version = streams.version_at(stream, as_of)
    if not use_snapshots:
        aggregate.fold(streams.events(stream, upto_version=upto_version))
        return aggregate
    snapshot, rows = _snapshot_and_events(aggregate, upto_version)
    if snapshot is not None:
        version, state = snapshot
        aggregate.state = aggregate.State.model_validate_json(state)
        aggregate.version = version
    aggregate.fold(  # a stream holds events only
        [cast(Event, decode_json(kind, schema, body)) for _, kind, schema, body in rows]
    )
    return aggregate


# The newest snapshot of the current shape (at most one row, type NULL) and the events
# after it, in one statement: every command's load, one round trip. The CTE is read
# twice, so PostgreSQL computes it once.
_LOAD_SQL = (
    "WITH snap AS ("
    "SELECT version, state FROM events_snapshot "
    "WHERE stream = %s AND schema = %s AND version <= %s "
    "ORDER BY version DESC LIMIT 1) "
    "SELECT version, NULL, NULL, state FROM snap "
    "UNION ALL "
    "SELECT stream_version, type, version, payload FROM events_log "
    "WHERE stream = %s AND stream_version <= %s "
    "AND stream_version > COALESCE((SELECT version FROM snap), 0)"
)


def _snapshot_and_events(
    aggregate: Aggregate[Any], upto_version: int | None
) -> tuple[tuple[int, str] | None, list[tuple[int, str, int, str]]]:
    """The snapshot to start from (version, state), if any, and the rows of the events
    after it (stream version, type, schema version, payload), in stream order (plain
    cursor: this is every command's load)."""
    upto = upto_version if upto_version is not None else 2**31 - 1
    stream = aggregate.stream
    with connection.cursor() as cursor:
        cursor.execute(
            _LOAD_SQL, [stream, aggregate.snapshot_version, upto, stream, upto]
        )
        rows = cursor.fetchall()
    snapshot = next(((row[0], row[3]) for row in rows if row[1] is None), None)
    events = [row for row in rows if row[1] is not None]
    events.sort(key=lambda row: row[0])  # a union has no order; linear when sorted
    return snapshot, events


def save(
    aggregate: Aggregate[Any],
    *,
    correlation_id: UUID | None = None,
    causation_id: UUID | None = None,
) -> list[PendingMessage]:
    """Append the aggregate's new events at the version it was loaded at (in the
    caller's transaction), and take a snapshot when one falls due."""
    if not aggregate.pending:
        return []
    items = streams.append(
        aggregate.stream,
        aggregate.pending,
        expected_version=aggregate.version,
        correlation_id=correlation_id,
        causation_id=causation_id,
        verify=False,  # the version was read from the stream: it can only be behind
    )
    before, aggregate.version = aggregate.version, aggregate.version + len(items)
    aggregate.pending = []
    interval = snapshot_interval(type(aggregate))
    if interval and before // interval != aggregate.version // interval:
        # ignore_conflicts: a concurrent writer that reached the same version has the
        # same snapshot; this one then loses on the events (ConcurrencyConflict, which
        # is retried) instead of aborting on the snapshot row.
        Snapshot.objects.bulk_create(
            [
                Snapshot(
                    stream=aggregate.stream,
                    version=aggregate.version,
                    aggregate=type(aggregate).__name__,
                    schema=aggregate.snapshot_version,
                    state=aggregate.state.model_dump(mode="json"),
                    taken_at=timezone.now(),
                )
            ],
            ignore_conflicts=True,
        )
    return items
