"""Checkpoints: reading them, and moving them only by compare-and-set."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.utils import timezone

from . import log
from .models import Checkpoint
from .subscriptions import Subscription, registry

Target = tuple[str, int]  # (subscription name, partition)


class CheckpointMoved(RuntimeError):
    """The checkpoint is no longer where this drain read it (a replay moved it, or
    another drain got there first); the batch is rolled back and re-read."""


def initial_position(subscription: Subscription, partition: int) -> int:
    """Where a new consumer group starts: the log's start, or its current head."""
    return log.head(partition) if subscription.start == "latest" else 0


def load(subscription: Subscription, partition: int) -> Checkpoint:
    """The checkpoint row, created at the subscription's start position if missing."""
    checkpoint = Checkpoint.objects.filter(
        subscription=subscription.name, partition=partition
    ).first()
    if checkpoint is None:
        checkpoint, _ = Checkpoint.objects.get_or_create(
            subscription=subscription.name,
            partition=partition,
            defaults={"position": initial_position(subscription, partition)},
        )
    return checkpoint


@dataclass(frozen=True)
class Where:
    """A drain's view of its partition: the checkpoint, whether a retry is pending,
    and the partition's head."""

    position: int
    retry_pending: bool
    head: int

    @property
    def has_work(self) -> bool:
        return not self.retry_pending and self.head > self.position


# The delivery hot path runs these two statements for every batch: raw SQL, since the
# ORM's per-query Python cost was several times the database's.
_WHERE_SQL = (
    "SELECT c.position, (c.retry_at IS NOT NULL AND c.retry_at > %s), "
    "COALESCE(h.last_offset, 0) FROM events_checkpoint c "
    "LEFT JOIN events_partition_head h ON h.partition = c.partition "
    "WHERE c.subscription = %s AND c.partition = %s"
)
_ADVANCE_SQL = (
    "UPDATE events_checkpoint SET position = %s, failing_offset = NULL, attempts = 0, "
    "retry_at = NULL, last_error = '', updated_at = %s "
    "WHERE subscription = %s AND partition = %s AND position = %s"
)


def where(subscription: Subscription, partition: int) -> Where:
    """Checkpoint, retry state and head in one query (creating the checkpoint at the
    subscription's start if it is missing)."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(_WHERE_SQL, [now, subscription.name, partition])
        row = cursor.fetchone()
    if row is None:
        load(subscription, partition)
        return where(subscription, partition)
    return Where(position=row[0], retry_pending=bool(row[1]), head=row[2])


def advance(subscription: str, partition: int, *, expected: int, to: int) -> None:
    """Move a checkpoint from ``expected`` to ``to`` and clear its retry state, in the
    caller's transaction; raise CheckpointMoved if it is not at ``expected``."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(_ADVANCE_SQL, [to, now, subscription, partition, expected])
        updated = cursor.rowcount
    if updated != 1:
        raise CheckpointMoved(f"{subscription} p{partition} moved from {expected}")


def pending_targets(now: datetime | None = None) -> list[Target]:
    """Every (subscription, partition) with messages past its checkpoint and no retry
    waiting: what a sweep wakes, so a lost wake-up only delays delivery."""
    now = now or timezone.now()
    heads = log.heads()
    checkpoints = {(c.subscription, c.partition): c for c in Checkpoint.objects.all()}
    targets = []
    for subscription in registry.all():
        for partition, head in heads.items():
            checkpoint = checkpoints.get((subscription.name, partition))
            if checkpoint is None:
                position = head if subscription.start == "latest" else 0
            elif checkpoint.retry_at is not None and checkpoint.retry_at > now:
                continue
            else:
                position = checkpoint.position
            if head > position:
                targets.append((subscription.name, partition))
    return targets
