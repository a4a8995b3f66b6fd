"""Checkpoints: reading them, and moving them only by compare-and-set."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from ..log import layout, reader
from ..models import Checkpoint, LogEntry, SubscriptionPause
from .subscriptions import Subscription, registry

Target = tuple[str, int]  # (subscription name, partition)


class CheckpointMoved(RuntimeError):
    """The checkpoint is no longer where this drain read it (a replay moved it, or
    another drain got there first); the batch is rolled back and re-read."""


def initial_position(subscription: Subscription, partition: int) -> int:
    """Where a new consumer group starts: the log's start, or its current head."""
    return reader.head(partition) if subscription.start == "latest" else 0


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
    how far it may read (the partition's head, or less while a gate of a repartition
    holds the newer layout back: ``events.log.layout``), and whether the subscription
    is paused (and, if so, whether a probe is due, and whether the partition may
    try its message anyway: ``events.delivery.outages``)."""

    position: int
    retry_pending: bool
    head: int
    paused: bool = False
    probe_due: bool = False
    untried: bool = False  # paused for an outage, and the front message never failed

    @property
    def has_work(self) -> bool:
        held = self.retry_pending or (
            self.paused and not self.probe_due and not self.untried
        )
        return not held and self.head > self.position


# The delivery hot path runs these two statements for every batch: raw SQL, since the
# ORM's per-query Python cost was several times the database's.
# The gate column: the lowest ``upto`` of the partition's gates whose feeder this
# subscription has not passed (a feeder without a checkpoint counts at the
# subscription's start: 0, or past every fence for one that starts at the head).
_WHERE_SQL = (
    "SELECT c.position, (c.retry_at IS NOT NULL AND c.retry_at > %s), "
    "COALESCE(h.last_offset, 0), "
    "(SELECT MIN(g.upto) FROM events_partition_gate g "
    "LEFT JOIN events_checkpoint f "
    "ON f.subscription = c.subscription AND f.partition = g.feeder "
    "WHERE g.partition = c.partition AND COALESCE(f.position, %s) < g.feeder_fence), "
    "(s.subscription IS NOT NULL), (s.probe_at IS NOT NULL AND s.probe_at <= %s), "
    "(s.probe_at IS NOT NULL AND c.failing_offset IS NULL) "
    "FROM events_checkpoint c "
    "LEFT JOIN events_partition_head h ON h.partition = c.partition "
    "LEFT JOIN events_subscription_pause s ON s.subscription = c.subscription "
    "WHERE c.subscription = %s AND c.partition = %s"
)
PAST_EVERY_FENCE = 2**62  # where a "latest" subscription without a checkpoint stands
_ADVANCE_SQL = (
    "UPDATE events_checkpoint SET position = %s, failing_offset = NULL, attempts = 0, "
    "retry_at = NULL, last_error = '', failing_key = '', failing_since = NULL, "
    "handled_at = COALESCE(%s, handled_at), updated_at = %s "
    "WHERE subscription = %s AND partition = %s AND position = %s"
)


def where(subscription: Subscription, partition: int) -> Where:
    """Checkpoint, retry state and how far to read, in one query (one snapshot: a
    head that includes messages of a new layout comes with that layout's gates), and
    the checkpoint created at the subscription's start if it is missing."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            _WHERE_SQL,
            [now, _unseen(subscription), now, subscription.name, partition],
        )
        row = cursor.fetchone()
    if row is None:
        load(subscription, partition)
        return where(subscription, partition)
    head = row[2] if row[3] is None else min(row[2], row[3])
    return Where(
        position=row[0],
        retry_pending=bool(row[1]),
        head=head,
        paused=bool(row[4]),
        probe_due=bool(row[5]),
        untried=bool(row[6]),
    )


def _unseen(subscription: Subscription) -> int:
    """The position of a partition this subscription has no checkpoint in yet."""
    return PAST_EVERY_FENCE if subscription.start == "latest" else 0


def advance(
    subscription: str,
    partition: int,
    *,
    expected: int,
    to: int,
    handled: bool = False,
) -> None:
    """Move a checkpoint from ``expected`` to ``to`` and clear its retry state, in the
    caller's transaction; raise CheckpointMoved if it is not at ``expected``.
    ``handled``: the move is over messages delivered successfully (not a dead letter
    or messages of other topics), which an outage is counted since."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    params = [to, now if handled else None, now, subscription, partition, expected]
    with connection.cursor() as cursor:
        cursor.execute(_ADVANCE_SQL, params)
        updated = cursor.rowcount
    if updated != 1:
        raise CheckpointMoved(f"{subscription} p{partition} moved from {expected}")


def handled(subscription: str, partition: int) -> None:
    """A message of the partition was delivered successfully with no checkpoint move
    (a concurrent window's message finished before an earlier one)."""
    Checkpoint.objects.filter(subscription=subscription, partition=partition).update(
        handled_at=timezone.now()
    )


def pending_targets(now: datetime | None = None) -> list[Target]:
    """Every (subscription, partition) with a message of a type it handles waiting
    where it may read (``behind_ranges``): what a sweep wakes, so a lost wake-up only
    delays delivery. A checkpoint that trails its head only over messages its
    subscription does not handle is left for a wake-up of its topic: a drain there
    would only move it, and a sweep of every subscription on every partition took
    every drain lock at once each period. One query per subscription behind."""
    found: list[Target] = []
    for subscription, ranges in _by_subscription(behind_ranges(now)).items():
        if not subscription.handled_types:
            continue
        waiting = Q()
        for partition, after, upto in ranges:
            waiting |= Q(partition=partition, offset__gt=after, offset__lte=upto)
        partitions = set(
            LogEntry.objects.filter(
                waiting,
                topic__in=subscription.topics,
                type__in=subscription.handled_types,
            )
            .values_list("partition", flat=True)
            .distinct()
        )
        found += [(subscription.name, p) for p, _, _ in ranges if p in partitions]
    return found


def behind_targets(now: datetime | None = None) -> list[Target]:
    """Every (subscription, partition) whose checkpoint trails what it may read,
    whatever the types there: what a repartition wakes, since its fences wait for
    every checkpoint to pass them."""
    return [(s.name, partition) for s, partition, _, _ in behind_ranges(now)]


def behind_ranges(
    now: datetime | None = None,
) -> list[tuple[Subscription, int, int, int]]:
    """(subscription, partition, checkpoint, how far it may read) wherever a
    subscription's checkpoint trails what it may read: no retry waiting, no pause
    with no probe due, no gate of a repartition closed."""
    now = now or timezone.now()
    # Checkpoints before heads, each in a statement of its own: a drain that commits
    # between the two moves a checkpoint and writes what its handler published in one
    # transaction, so the heads read after show that message past the checkpoints read
    # before. Read the other way round, the moved checkpoint met a head without it, and
    # the look said nothing waits while the message did.
    checkpoints = {(c.subscription, c.partition): c for c in Checkpoint.objects.all()}
    heads = reader.heads()
    gates = layout.gates()
    pauses = {p.subscription: p for p in SubscriptionPause.objects.all()}
    behind = []
    for subscription in registry.all():
        pause = pauses.get(subscription.name)
        if pause is not None and pause.probe_at is None:
            continue  # paused by hand
        position = _positions(checkpoints, subscription)
        for partition, head in heads.items():
            checkpoint = checkpoints.get((subscription.name, partition))
            if _waits_for_probe(pause, checkpoint, now):
                continue
            if checkpoint is None:
                position_here = head if subscription.start == "latest" else 0
            elif checkpoint.retry_at is not None and checkpoint.retry_at > now:
                continue
            else:
                position_here = checkpoint.position
            upto = layout.readable(partition, head, gates.get(partition, ()), position)
            if upto > position_here:
                behind.append((subscription, partition, position_here, upto))
    return behind


def _by_subscription(
    behind: list[tuple[Subscription, int, int, int]],
) -> dict[Subscription, list[tuple[int, int, int]]]:
    grouped: dict[Subscription, list[tuple[int, int, int]]] = {}
    for subscription, partition, after, upto in behind:
        grouped.setdefault(subscription, []).append((partition, after, upto))
    return grouped


def _waits_for_probe(
    pause: SubscriptionPause | None, checkpoint: Checkpoint | None, now: datetime
) -> bool:
    """A partition of a subscription paused for an outage waits for the probe when
    its front message failed (one that never did may be tried: ``Where.untried``)."""
    if pause is None or pause.probe_at is None or pause.probe_at <= now:
        return False
    return checkpoint is not None and checkpoint.failing_offset is not None


def _positions(
    checkpoints: dict[Target, Checkpoint], subscription: Subscription
) -> Callable[[int], int]:
    """A subscription's position in any partition, from checkpoints read before."""
    unseen = _unseen(subscription)

    def position(partition: int) -> int:
        found = checkpoints.get((subscription.name, partition))
        return found.position if found else unseen

    return position
