"""Every checkpoint with its partition's head and its lag, worst first: the staff
console's checkpoints page.

``events.ops.status`` answers per subscription (two queries per partition, fine for
the CLI's one subscription); this page shows every subscription at once, so it counts
the waiting messages of a subscription's partitions in one grouped query.

Lag is in messages (those past its checkpoint that the subscription handles: the
others it only passes, when it next drains) and in seconds (the age of the oldest of
them). ``paused`` says whether the subscription is
paused (an outage it met, or staff: ``events.delivery.outages``), with why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min, Q
from django.utils import timezone

from ..delivery.subscriptions import registry
from ..log import reader
from ..models import Checkpoint, LogEntry
from .status import pause_text, pauses


@dataclass(frozen=True)
class CheckpointLag:
    subscription: str
    partition: int
    head: int  # the partition's last offset (all topics)
    position: int  # the checkpoint: the last offset handled or passed over
    lag: int
    lag_seconds: float
    retrying: bool
    attempts: int
    retry_at: datetime | None
    last_error: str
    paused: str  # "paused: <reason> since <time>", or "" when it is not


def checkpoint_lags(
    *, subscription: str | None = None, now: datetime | None = None
) -> list[CheckpointLag]:
    """One row per (subscription, partition), largest lag first (in messages, then
    seconds), then by name and partition."""
    now = now or timezone.now()
    heads = reader.heads()
    paused = {name: pause_text(p) for name, p in pauses().items()}
    rows: list[CheckpointLag] = []
    for declared in registry.all():
        if subscription and declared.name != subscription:
            continue
        checkpoints = {
            c.partition: c
            for c in Checkpoint.objects.filter(subscription=declared.name)
        }
        positions = {
            p: (checkpoints[p].position if p in checkpoints else 0) for p in heads
        }
        behind = Q()
        for partition, position in positions.items():
            behind |= Q(partition=partition, offset__gt=position)
        waiting = {
            row["partition"]: (row["n"], row["oldest"])
            for row in LogEntry.objects.filter(
                behind, topic__in=declared.topics, type__in=declared.handled_types
            )
            .values("partition")
            .annotate(n=Count("id"), oldest=Min("recorded_at"))
        }
        for partition, head in heads.items():
            checkpoint = checkpoints.get(partition)
            count, oldest = waiting.get(partition, (0, None))
            rows.append(
                CheckpointLag(
                    subscription=declared.name,
                    partition=partition,
                    head=head,
                    position=positions[partition],
                    lag=count,
                    lag_seconds=(now - oldest).total_seconds() if oldest else 0.0,
                    retrying=bool(checkpoint and checkpoint.failing_offset is not None),
                    attempts=checkpoint.attempts if checkpoint else 0,
                    retry_at=checkpoint.retry_at if checkpoint else None,
                    last_error=checkpoint.last_error if checkpoint else "",
                    paused=paused.get(declared.name, ""),
                )
            )
    rows.sort(key=lambda r: (-r.lag, -r.lag_seconds, r.subscription, r.partition))
    return rows
