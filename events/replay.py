"""Replay: move a subscription's checkpoints back (or forward) and let it run again.

A replayed message is handled again: its inbox record is dropped with the move, since
the operator asked for it. Outside effects stay deduplicated by the outside service,
which sees the same idempotency key as the first time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction

from . import inbox, log
from .checkpoints import load
from .locks import drain_lock
from .models import Checkpoint, LogEntry
from .subscriptions import Subscription


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
    chosen = (
        partitions
        if partitions is not None
        else list(range(settings.EVENTS_PARTITIONS))
    )
    for partition in chosen:
        if not 0 <= partition < settings.EVENTS_PARTITIONS:
            raise ReplayError(
                f"partition {partition} does not exist "
                f"(0..{settings.EVENTS_PARTITIONS - 1})"
            )
    moves = []
    for partition in chosen:
        head = log.head(partition)
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
        with transaction.atomic(durable=True):
            before = load(subscription, partition).position
            Checkpoint.objects.filter(
                subscription=subscription.name, partition=partition
            ).update(
                position=position,
                failing_offset=None,
                attempts=0,
                retry_at=None,
                last_error="",
            )
            inbox.forget_after(subscription.name, partition, position)
    return Moved(partition, before, position)
