"""Status of every consumer group: head, checkpoint, lag in messages and in seconds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count
from django.utils import timezone

from ..delivery.subscriptions import Subscription, registry
from ..log import reader
from ..models import Checkpoint, DeadLetter, LogEntry, SubscriptionPause


@dataclass(frozen=True)
class PartitionStatus:
    subscription: str
    partition: int
    head: int
    checkpoint: int
    lag: int  # messages of the subscription's topics past the checkpoint
    lag_seconds: float  # age of the oldest of them (0 when caught up)
    retrying: bool
    last_error: str


def partition_status(
    subscription: Subscription,
    *,
    now: datetime | None = None,
    heads: dict[int, int] | None = None,
) -> list[PartitionStatus]:
    """``heads``: the partitions' heads, when the caller read them already."""
    now = now or timezone.now()
    heads = reader.heads() if heads is None else heads
    checkpoints = {
        c.partition: c
        for c in Checkpoint.objects.filter(subscription=subscription.name)
    }
    rows = []
    for partition, head in heads.items():
        checkpoint = checkpoints.get(partition)
        position = checkpoint.position if checkpoint else 0
        waiting = LogEntry.objects.filter(
            partition=partition,
            offset__gt=position,
            topic__in=subscription.topics,
            type__in=subscription.handled_types,
        )
        oldest = (
            waiting.order_by("offset").values_list("recorded_at", flat=True).first()
        )
        rows.append(
            PartitionStatus(
                subscription=subscription.name,
                partition=partition,
                head=head,
                checkpoint=position,
                lag=waiting.count(),
                lag_seconds=(now - oldest).total_seconds() if oldest else 0.0,
                retrying=bool(checkpoint and checkpoint.failing_offset is not None),
                last_error=checkpoint.last_error if checkpoint else "",
            )
        )
    return rows


def pauses() -> dict[str, SubscriptionPause]:
    """Paused subscriptions by name (an outage's, or staff's)."""
    return {p.subscription: p for p in SubscriptionPause.objects.all()}


def pause_text(pause: SubscriptionPause) -> str:
    """``paused: <reason> since <time>`` (and the next probe, for an outage)."""
    text = f"paused: {pause.reason} since {pause.paused_at:%Y-%m-%d %H:%M:%S %Z}"
    if pause.probe_at is None:
        return f"{text} (by hand{', ' + pause.by if pause.by else ''}: until resumed)"
    return f"{text} (probe {pause.probes + 1} at {pause.probe_at:%H:%M:%S})"


def dead_letter_counts() -> dict[str, int]:
    """Parked dead letters per subscription."""
    return dict(
        DeadLetter.objects.filter(status=DeadLetter.Status.PARKED)
        .values_list("subscription")
        .annotate(n=Count("id"))
        .values_list("subscription", "n")
    )


def all_status() -> list[PartitionStatus]:
    now = timezone.now()
    return [row for s in registry.all() for row in partition_status(s, now=now)]
