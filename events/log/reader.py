"""Reading the log: partition heads and ranges of rows, in offset order."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.db import connection

from ..messages import Envelope
from ..models import LogEntry, PartitionHead
from .layout import partition_count

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


def head(partition: int) -> int:
    """The last committed offset of a partition (0 when empty)."""
    value = (
        PartitionHead.objects.filter(partition=partition)
        .values_list("last_offset", flat=True)
        .first()
    )
    return value or 0


def heads() -> dict[int, int]:
    """Every partition's last committed offset (the partitions of the database's
    layout, ``events.log.layout``)."""
    found = dict(PartitionHead.objects.values_list("partition", "last_offset"))
    return {p: found.get(p, 0) for p in range(partition_count())}


def read(
    partition: int,
    *,
    after: int,
    upto: int,
    topics: Iterable[str] | None = None,
    types: Iterable[str] | None = None,
    limit: int,
) -> list[Envelope]:
    """Rows of a partition with ``after < offset <= upto``, in offset order, of
    ``topics`` and ``types`` when given.

    Callers pass ``upto`` = a head they read before: every offset up to it is committed,
    so the range has no holes that could fill in later. A subscription passes the
    types it handles: the others are skipped here, in the scan, rather than read,
    decoded and counted against its batch."""
    if connection.vendor == "postgresql" and topics is not None:
        return _read_postgresql(
            partition, after, upto, list(topics), limit, types=types
        )
    rows = LogEntry.objects.filter(
        partition=partition, offset__gt=after, offset__lte=upto
    )
    if topics is not None:
        rows = rows.filter(topic__in=list(topics))
    if types is not None:
        rows = rows.filter(type__in=list(types))
    # values_list, not model instances: this is the delivery hot path.
    fields = rows.order_by("offset").values_list(*ENVELOPE_FIELDS)[:limit]
    return [Envelope(*values) for values in fields]


_READ_SQL = (
    'SELECT message_id, type, version, topic, key, "partition", "offset", recorded_at, '
    "correlation_id, causation_id, payload, headers, stream, stream_version "
    'FROM events_log WHERE "partition" = %s AND "offset" > %s AND "offset" <= %s '
    'AND topic = ANY(%s) {types}ORDER BY "offset" LIMIT %s'
)


def _read_postgresql(
    partition: int,
    after: int,
    upto: int,
    topics: list[str],
    limit: int,
    *,
    types: Iterable[str] | None,
) -> list[Envelope]:
    """The same rows through a plain cursor: on the hot path the ORM's per-row
    converters cost more than fetching (Django hands jsonb over as text)."""
    params: list[Any] = [partition, after, upto, topics]
    if types is None:
        sql = _READ_SQL.format(types="")
    else:
        sql = _READ_SQL.format(types="AND type = ANY(%s) ")
        params.append(list(types))
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit])
        rows = cursor.fetchall()
    loads = json.loads
    return [
        # mypy counts a starred slice of unknown length as too many arguments
        Envelope(*row[:10], loads(row[10]), _headers(row[11]), row[12], row[13])  # type: ignore[call-arg]
        for row in rows
    ]


def _headers(text: str) -> dict[str, str]:
    return {} if text == "{}" else dict(json.loads(text))
