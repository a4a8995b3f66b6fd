"""Replay: move a subscription's checkpoints back (or forward) and let it run again.

A replayed message is handled again: its inbox record is dropped with the move, since
the operator asked for it. Outside effects stay deduplicated by the outside service,
which sees the same idempotency key as the first time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..delivery import inbox
from ..delivery.checkpoints import load
from ..delivery.locks import drain_lock
from ..delivery.subscriptions import Subscription
from ..log import reader
from ..log.layout import partition_count
from ..log.unit import unit_of_work
from ..models import Checkpoint, LogEntry


class ReplayError(ValueError):
    """A replay that cannot be done as asked (offset out of range, drain running)."""


@dataclass(frozen=True)
class Moved:
    partition: int
    before: int
    after: int


def seek(
    subscription: Subscription,
    *,
    to_offset: int | None = None,
    since: datetime | None = None,
    partitions: list[int] | None = None,
) -> list[Moved]:
    """Set the next message to handle to ``to_offset``, or to the first one recorded at
    or after ``since``, in each partition (all by default). Takes each partition's drain
    lock, so it never races a running drain of this process group."""
    if (to_offset is None) == (since is None):
        raise ReplayError("give exactly one of --to-offset or --since")
    if to_offset is not None and to_offset < 1:
        raise ReplayError("offsets start at 1")
    count = partition_count()
    chosen = partitions if partitions is not None else list(range(count))
    for partition in chosen:
        if not 0 <= partition < count:
            raise ReplayError(f"partition {partition} does not exist (0..{count - 1})")
    moves = []
    for partition in chosen:
        head = reader.head(partition)
        if to_offset is not None:
            if to_offset > head + 1:
                raise ReplayError(
                    f"offset {to_offset} is past the head of partition {partition} "
                    f"({head})"
                )
            position = to_offset - 1
        else:
            first = (
                LogEntry.objects.filter(partition=partition, recorded_at__gte=since)
                .order_by("offset")
                .values_list("offset", flat=True)
                .first()
            )
            position = head if first is None else first - 1
        moves.append(_move(subscription, partition, position))
    return moves


def _move(subscription: Subscription, partition: int, position: int) -> Moved:
    with drain_lock(subscription.name, partition) as acquired:
        if not acquired:
            raise ReplayError(
                f"a drain of {subscription.name} p{partition} is running; try again"
            )
        with unit_of_work():
            before = load(subscription, partition).position
            Checkpoint.objects.filter(
                subscription=subscription.name, partition=partition
            ).update(
                position=position,
                failing_offset=None,
                failing_since=None,
                attempts=0,
                retry_at=None,
                last_error="",
            )
            inbox.forget_after(subscription.name, partition, position)
    return Moved(partition, before, position)
