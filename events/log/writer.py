"""Writing to the log, with gap-free offsets in commit order.

Offsets come from a counter row per partition (``events_partition_head``), bumped with
an upsert that takes the row's lock and keeps it until the writer's transaction ends.
A second writer to the same partition waits for the first to commit or roll back, so:

* offsets are handed out in commit order, and the committed offsets of a partition are
  always a prefix 1..head: a reader that reads the head, then the rows up to it, can
  never skip a row that commits late (the bug of readers that follow a serial id);
* a rollback returns its offsets with the counter, so there are no gaps.

We chose this over reading below the oldest in-flight transaction (``pg_snapshot_xmin``
on xid8 columns) because it is simple, works the same on SQLite (which serializes all
writers anyway), and makes the reader's query a plain range scan. Its cost is that
writers to one partition serialize from the moment they take offsets to their commit;
the platform takes offsets at the very end of its transactions (``events.log.unit``),
and partitions spread the writers. On PostgreSQL, ``INSERT .. ON CONFLICT DO UPDATE``
locks the conflicting row and, in READ COMMITTED, re-reads its latest committed version
after waiting (https://www.postgresql.org/docs/15/sql-insert.html#SQL-ON-CONFLICT).

On PostgreSQL with ``EVENTS_WAKE = "notify"``, the same statement that inserts the rows
also NOTIFYs channel ``events.<topic>``, once per (topic, partition) written, with the
partition and the message types written as payload (``notify_payload``): PostgreSQL
delivers notifications when the transaction commits, and drops them with a rollback,
so a listener is woken by exactly what committed, at no extra round trip
(https://www.postgresql.org/docs/15/sql-notify.html).
A notification is only a bell: a listener that missed one is caught up by a sweep.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection
from django.utils import timezone

from ..errors import ConcurrencyConflict
from ..models import LogEntry
from . import journeys, layout
from .partitions import partition_for
from .pending import PendingMessage
from .signals import announce_after_commit

_RESERVE_SQL = (
    "INSERT INTO events_partition_head (partition, last_offset) VALUES (%s, %s) "
    "ON CONFLICT (partition) DO UPDATE "
    "SET last_offset = events_partition_head.last_offset + excluded.last_offset "
    "RETURNING last_offset"
)


def reserve_offsets(partition: int, count: int) -> int:
    """Take ``count`` offsets in a partition; returns the first. Locks the partition's
    counter until the current transaction ends (that is what orders commits)."""
    with connection.cursor() as cursor:
        cursor.execute(_RESERVE_SQL, [partition, count])
        (last,) = cursor.fetchone()
    return int(last) - count + 1


def write(pending: Sequence[PendingMessage]) -> None:
    """Write messages to the log in the current transaction, partitions in ascending
    order (a fixed lock order, so two writers never deadlock on partition counters),
    and announce them after commit.

    A stream version taken by a concurrent writer (the unique constraint on stream and
    version) is a ConcurrencyConflict. Partitions are decided here, by the count read
    under the layout's shared lock (``events.log.layout``: repartitioning waits)."""
    if not pending:
        return
    journeys.observe_after_commit(pending)  # reads the log: before the offsets' locks
    count = layout.count_for_write()
    for item in pending:
        item.partition = partition_for(item.message.message_key(), count)
    now = timezone.now()
    ordered: list[PendingMessage] = []
    by_partition: dict[int, list[PendingMessage]] = {}
    for item in pending:
        by_partition.setdefault(item.partition, []).append(item)
    for partition in sorted(by_partition):
        items = by_partition[partition]
        first = reserve_offsets(partition, len(items))
        for offset, item in enumerate(items, start=first):
            item.offset, item.recorded_at = offset, now
            ordered.append(item)
    try:
        _insert(ordered)
    except IntegrityError as error:
        appended = next((i for i in ordered if i.stream_version is not None), None)
        if appended is None or appended.stream is None:
            raise
        assert appended.stream_version is not None  # picked for it
        raise ConcurrencyConflict(
            appended.stream, appended.stream_version - 1
        ) from error
    announce_after_commit({(item.topic, item.partition) for item in ordered})


_COLUMNS = (
    '"partition", "offset", topic, type, version, key, message_id, correlation_id, '
    "causation_id, headers, payload, recorded_at, stream, stream_version"
)
_UUID_FIELD = LogEntry._meta.get_field("message_id")


def _insert(items: Sequence[PendingMessage]) -> None:
    """One multi-row INSERT through a plain cursor: every publish and append goes
    through here, and building model instances (or bulk_create's JSON arrays) cost
    more than the statement."""
    ops, prep = connection.ops, _UUID_FIELD.get_db_prep_value
    doc = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    row = f"(%s, %s, %s, %s, %s, %s, %s, %s, %s, {doc}, {doc}, %s, %s, %s)"
    params: list[Any] = []
    for item in items:
        message = item.message
        params += [
            item.partition,
            item.offset,
            message.topic,
            message.wire_name,
            message.version,
            message.message_key(),
            prep(item.message_id, connection),
            prep(item.correlation_id, connection),
            prep(item.causation_id, connection),
            json.dumps(item.headers),
            message.model_dump_json(),
            ops.adapt_datetimefield_value(item.recorded_at),
            item.stream,
            item.stream_version,
        ]
    values = ", ".join([row] * len(items))
    insert = f"INSERT INTO events_log ({_COLUMNS}) VALUES {values}"
    if commits_notify():
        rung: dict[tuple[str, int], set[str]] = {}
        for item in items:
            at = (notify_channel(item.topic), item.partition)
            rung.setdefault(at, set()).add(item.message.wire_name)
        pairs = sorted(
            (channel, notify_payload(partition, types))
            for (channel, partition), types in rung.items()
        )
        # A data-modifying CTE runs to completion whether or not it is read.
        insert = (
            f"WITH written AS ({insert} RETURNING 1) SELECT pg_notify(c, p) "
            "FROM unnest(%s::text[], %s::text[]) AS n(c, p)"
        )
        params += [[c for c, _ in pairs], [p for _, p in pairs]]
    with connection.cursor() as cursor:
        cursor.execute(insert, params)


def notify_channel(topic: str) -> str:
    """The PostgreSQL channel that announces committed messages of ``topic``."""
    return f"events.{topic}"


def notify_payload(partition: int, types: Iterable[str] = ()) -> str:
    """A notification's payload: the partition, then the message types written (none:
    a wake-up that is not a commit, for every reader of the topic)."""
    return " ".join([str(partition), *sorted(types)])


def parse_notify_payload(payload: str) -> tuple[int, frozenset[str]]:
    """The partition and message types of a payload made by :func:`notify_payload`;
    ValueError when it is not one."""
    partition, *types = payload.split(" ")
    return int(partition), frozenset(types)


def commits_notify() -> bool:
    """Whether each write NOTIFYs its topics' channels (PostgreSQL delivers them at
    commit): ``EVENTS_WAKE = "notify"`` on PostgreSQL."""
    return connection.vendor == "postgresql" and settings.EVENTS_WAKE == "notify"


def ring(pairs: Iterable[tuple[str, int]]) -> None:
    """NOTIFY (topic, partition) pairs without writing: what a commit rings, for a
    wake-up that is not a commit (a resumed subscription, a repartition). Inside a
    transaction it is sent at commit, else at once."""
    channels = sorted({(notify_channel(t), notify_payload(p)) for t, p in pairs})
    if not channels:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_notify(c, p) FROM unnest(%s::text[], %s::text[]) AS n(c, p)",
            [[c for c, _ in channels], [p for _, p in channels]],
        )
