"""Writing to and reading from the log, with gap-free offsets in commit order.

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
the platform takes offsets at the very end of its transactions (see ``events.outbox``),
and partitions spread the writers. On PostgreSQL, ``INSERT .. ON CONFLICT DO UPDATE``
locks the conflicting row and, in READ COMMITTED, re-reads its latest committed version
after waiting (https://www.postgresql.org/docs/15/sql-insert.html#SQL-ON-CONFLICT).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID, uuid4

from django.conf import settings
from django.db import connection
from django.utils import timezone

from .messages import Envelope, Message
from .models import LogEntry, PartitionHead


def partition_for(key: str, partitions: int | None = None) -> int:
    """The partition of a key: a stable hash (crc32, not Python's salted ``hash``)."""
    count = partitions or settings.EVENTS_PARTITIONS
    return zlib.crc32(key.encode()) % count


@dataclass
class PendingMessage:
    """A message on its way into the log; ``offset`` is known once it is written."""

    message: Message
    partition: int
    correlation_id: UUID
    causation_id: UUID | None
    headers: dict[str, str]
    message_id: UUID = field(default_factory=uuid4)
    stream: str | None = None
    stream_version: int | None = None
    offset: int | None = None
    recorded_at: datetime | None = None

    @property
    def topic(self) -> str:
        return self.message.topic

    def envelope(self) -> Envelope:
        if self.offset is None or self.recorded_at is None:
            raise RuntimeError("the message has not been written to the log yet")
        return Envelope(
            message_id=self.message_id,
            type=self.message.wire_name,
            version=self.message.version,
            topic=self.message.topic,
            key=self.message.message_key(),
            partition=self.partition,
            offset=self.offset,
            recorded_at=self.recorded_at,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
            payload=self.message.model_dump(mode="json"),
            headers=self.headers,
            stream=self.stream,
            stream_version=self.stream_version,
        )


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
    return last - count + 1


def write(pending: Sequence[PendingMessage]) -> None:
    """Write messages to the log in the current transaction, partitions in ascending
    order (a fixed lock order, so two writers never deadlock on partition counters)."""
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
    _insert(ordered)


_COLUMNS = (
    '"partition", "offset", topic, type, version, key, message_id, correlation_id, '
    "causation_id, headers, payload, recorded_at, stream, stream_version"
)


def _insert(items: Sequence[PendingMessage]) -> None:
    """One multi-row INSERT through a plain cursor: every publish and append goes
    through here, and building model instances (or bulk_create's JSON arrays) cost
    more than the statement."""
    ops, prep = connection.ops, _UUID_FIELD.get_db_prep_value
    doc = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    row = f"(%s, %s, %s, %s, %s, %s, %s, %s, %s, {doc}, {doc}, %s, %s, %s)"
    params: list[object] = []
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
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO events_log ({_COLUMNS}) VALUES {values}", params)


_UUID_FIELD = LogEntry._meta.get_field("message_id")


def head(partition: int) -> int:
    """The last committed offset of a partition (0 when empty)."""
    value = (
        PartitionHead.objects.filter(partition=partition)
        .values_list("last_offset", flat=True)
        .first()
    )
    return value or 0


def heads() -> dict[int, int]:
    """Every partition's last committed offset."""
    found = dict(PartitionHead.objects.values_list("partition", "last_offset"))
    return {p: found.get(p, 0) for p in range(settings.EVENTS_PARTITIONS)}


def read(
    partition: int,
    *,
    after: int,
    upto: int,
    topics: Iterable[str] | None = None,
    limit: int,
) -> list[Envelope]:
    """Rows of a partition with ``after < offset <= upto``, in offset order.

    Callers pass ``upto`` = a head they read before: every offset up to it is committed,
    so the range has no holes that could fill in later."""
    if connection.vendor == "postgresql" and topics is not None:
        return _read_postgresql(partition, after, upto, list(topics), limit)
    rows = LogEntry.objects.filter(
        partition=partition, offset__gt=after, offset__lte=upto
    )
    if topics is not None:
        rows = rows.filter(topic__in=list(topics))
    # values_list, not model instances: this is the delivery hot path.
    fields = rows.order_by("offset").values_list(*ENVELOPE_FIELDS)[:limit]
    return [Envelope(*values) for values in fields]


_READ_SQL = (
    'SELECT message_id, type, version, topic, key, "partition", "offset", recorded_at, '
    "correlation_id, causation_id, payload, headers, stream, stream_version "
    'FROM events_log WHERE "partition" = %s AND "offset" > %s AND "offset" <= %s '
    'AND topic = ANY(%s) ORDER BY "offset" LIMIT %s'
)


def _read_postgresql(
    partition: int, after: int, upto: int, topics: list[str], limit: int
) -> list[Envelope]:
    """The same rows through a plain cursor: on the hot path the ORM's per-row
    converters cost more than fetching (Django hands jsonb over as text)."""
    with connection.cursor() as cursor:
        cursor.execute(_READ_SQL, [partition, after, upto, topics, limit])
        rows = cursor.fetchall()
    loads = json.loads
    return [
        Envelope(*row[:10], loads(row[10]), _headers(row[11]), row[12], row[13])
        for row in rows
    ]


def _headers(text: str) -> dict[str, str]:
    return {} if text == "{}" else json.loads(text)


ENVELOPE_FIELDS = (
    "message_id",
    "type",
    "version",
    "topic",
    "key",
    "partition",
    "offset",
    "recorded_at",
    "correlation_id",
    "causation_id",
    "payload",
    "headers",
    "stream",
    "stream_version",
)
