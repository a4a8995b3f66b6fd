"""The inbox: which messages a subscription has handled, written with their effects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from django.db import connection
from django.utils import timezone

from ..messages import Envelope
from ..models import InboxEntry

_MESSAGE_ID = InboxEntry._meta.get_field("message_id")


def claim(subscription: str, envelopes: Sequence[Envelope]) -> set[UUID]:
    """Record the envelopes as handled (in the caller's transaction) and return the ids
    that were new; the others were handled before and must not be handled again.

    One statement (``INSERT .. ON CONFLICT DO NOTHING RETURNING``, on PostgreSQL and
    SQLite alike): this is the delivery hot path, where building ORM objects for every
    row cost more than the database did. A concurrent claim of the same id waits for
    the other transaction and then skips it, instead of failing."""
    if not envelopes:
        return set()
    if connection.vendor == "postgresql":
        sql, params = _claim_postgresql(subscription, envelopes)
    else:
        sql, params = _claim_values(subscription, envelopes)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {_uuid(value) for (value,) in cursor.fetchall()}


_CLAIM_COLUMNS = 'subscription, message_id, "partition", "offset", handled_at'
_CLAIM_TAIL = " ON CONFLICT (subscription, message_id) DO NOTHING RETURNING message_id"


def _claim_postgresql(
    subscription: str, envelopes: Sequence[Envelope]
) -> tuple[str, list[Any]]:
    """Arrays and unnest: five parameters whatever the batch size (a VALUES list of
    thousands of placeholders cost more to build on the client than to run)."""
    sql = (
        f"INSERT INTO events_inbox ({_CLAIM_COLUMNS}) "
        "SELECT %s, m, p, o, %s FROM unnest(%s::uuid[], %s::int[], %s::bigint[]) "
        f"AS t(m, p, o){_CLAIM_TAIL}"
    )
    return sql, [
        subscription,
        timezone.now(),
        [e.message_id for e in envelopes],
        [e.partition for e in envelopes],
        [e.offset for e in envelopes],
    ]


def _claim_values(
    subscription: str, envelopes: Sequence[Envelope]
) -> tuple[str, list[Any]]:
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    params: list[Any] = []
    for envelope in envelopes:
        params += [
            subscription,
            _MESSAGE_ID.get_db_prep_value(envelope.message_id, connection),
            envelope.partition,
            envelope.offset,
            now,
        ]
    rows = ", ".join(["(%s, %s, %s, %s, %s)"] * len(envelopes))
    return (
        f"INSERT INTO events_inbox ({_CLAIM_COLUMNS}) VALUES {rows}{_CLAIM_TAIL}",
        params,
    )


def _uuid(value: object) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


_CONTAINS_SQL = (
    "SELECT 1 FROM events_inbox WHERE subscription = %s AND message_id = %s LIMIT 1"
)


def contains(subscription: str, message_id: UUID) -> bool:
    """Whether the subscription has handled the message: asked before every outside
    call, so a plain cursor (the ORM's query building cost more than the query)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _CONTAINS_SQL,
            [subscription, _MESSAGE_ID.get_db_prep_value(message_id, connection)],
        )
        return cursor.fetchone() is not None


def handled(subscription: str, message_ids: Sequence[UUID]) -> set[UUID]:
    """Which of ``message_ids`` the subscription has handled (one query)."""
    if not message_ids:
        return set()
    return set(
        InboxEntry.objects.filter(
            subscription=subscription, message_id__in=list(message_ids)
        ).values_list("message_id", flat=True)
    )


def forget_after(subscription: str, partition: int, offset: int) -> int:
    """Drop the records of messages past ``offset`` so a replay handles them again."""
    deleted, _ = InboxEntry.objects.filter(
        subscription=subscription, partition=partition, offset__gt=offset
    ).delete()
    return deleted
