"""Checkpoints: reading them, and moving them only by compare-and-set."""

from __future__ import annotations

from datetime import datetime

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


def advance(subscription: str, partition: int, *, expected: int, to: int) -> None:
    """Move a checkpoint from ``expected`` to ``to`` and clear its retry state, in the
    caller's transaction; raise CheckpointMoved if it is not at ``expected``."""
    updated = Checkpoint.objects.filter(
        subscription=subscription, partition=partition, position=expected
    ).update(
        position=to,
        failing_offset=None,
        attempts=0,
        retry_at=None,
        last_error="",
        updated_at=timezone.now(),
    )
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
