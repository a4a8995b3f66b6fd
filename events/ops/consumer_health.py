"""Is every consumer consuming? Stalled subscriptions and queues without a worker.

A consumer that stops (its worker died, its broker connection is gone, a handler keeps
failing) shows nowhere on the request path: orders are still accepted, and pile up.
Two signals say so, both cheap enough for a health probe:

* **Stalled subscription**: a partition whose oldest message not yet handled (past
  the checkpoint, in the subscription's topics) is older than the subscription's
  threshold. Read from the log and the checkpoints, one query per subscription, so a
  dispatcher of any kind, in any process, is judged the same way. An idle
  subscription is never stalled: nothing waits for it.
* **Queue without a worker** (Celery dispatcher): a queue some subscription's drain
  tasks are sent to (its ``queue``, or Celery's default) that no live worker consumes,
  asked by one broadcast (``inspect().active_queues()``: every live worker answers
  with its queues within the timeout). This catches a dead worker before any message
  waits for it.

Thresholds are per subscription: ``thresholds[name]``, else ``default``, in seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from celery import current_app

from ..delivery.checkpoints import initial_position
from ..delivery.subscriptions import Subscription, registry
from ..log import reader
from ..models import Checkpoint, LogEntry


@dataclass(frozen=True)
class Stall:
    """A partition of a subscription whose oldest unhandled message is too old."""

    subscription: str
    partition: int
    waiting_seconds: float  # age of the oldest message not handled yet
    threshold_seconds: float
    last_error: str  # the retry in progress, if any: often the reason


@dataclass(frozen=True)
class SubscriptionHealth:
    subscription: str
    oldest_waiting_seconds: float  # over its partitions; 0 when caught up
    threshold_seconds: float
    stalls: tuple[Stall, ...]

    @property
    def stalled(self) -> bool:
        return bool(self.stalls)


def oldest_waiting(
    subscription: Subscription, *, now: datetime, partitions: Iterable[int]
) -> dict[int, tuple[float, str]]:
    """Per partition with messages waiting: (age in seconds of the oldest, the
    checkpoint's last error). One query for the partitions with a checkpoint, one per
    partition without (a subscription that never ran there)."""
    first_waiting = (
        LogEntry.objects.filter(
            partition=OuterRef("partition"),
            offset__gt=OuterRef("position"),
            topic__in=subscription.topics,
            type__in=subscription.handled_types,
        )
        .order_by("offset")
        .values("recorded_at")[:1]
    )
    rows = Checkpoint.objects.filter(subscription=subscription.name).annotate(
        oldest=Subquery(first_waiting)
    )
    found: dict[int, tuple[float, str]] = {}
    seen = set()
    for partition, oldest, error in rows.values_list(
        "partition", "oldest", "last_error"
    ):
        seen.add(partition)
        if oldest is not None:
            found[partition] = ((now - oldest).total_seconds(), error)
    for partition in sorted(set(partitions) - seen):
        oldest = (
            LogEntry.objects.filter(
                partition=partition,
                offset__gt=initial_position(subscription, partition),
                topic__in=subscription.topics,
                type__in=subscription.handled_types,
            )
            .order_by("offset")
            .values_list("recorded_at", flat=True)
            .first()
        )
        if oldest is not None:
            found[partition] = ((now - oldest).total_seconds(), "")
    return found


def subscription_health(
    *,
    thresholds: Mapping[str, float],
    default: float,
    subscriptions: Iterable[Subscription] | None = None,
    now: datetime | None = None,
) -> list[SubscriptionHealth]:
    """The health of each subscription (all registered ones by default)."""
    now = now or timezone.now()
    partitions = list(reader.heads())
    report = []
    for subscription in registry.all() if subscriptions is None else subscriptions:
        threshold = float(thresholds.get(subscription.name, default))
        waiting = oldest_waiting(subscription, now=now, partitions=partitions)
        stalls = tuple(
            Stall(subscription.name, partition, seconds, threshold, error)
            for partition, (seconds, error) in sorted(waiting.items())
            if seconds > threshold
        )
        report.append(
            SubscriptionHealth(
                subscription=subscription.name,
                oldest_waiting_seconds=max(
                    (seconds for seconds, _ in waiting.values()), default=0.0
                ),
                threshold_seconds=threshold,
                stalls=stalls,
            )
        )
    return report


def expected_queues(default_queue: str) -> set[str]:
    """The queues the subscriptions' drain tasks are sent to."""
    return {s.queue or default_queue for s in registry.all()}


def live_queues(*, timeout: float) -> dict[str, list[str]]:
    """Queue name -> the live Celery workers consuming it, from one broadcast that
    every live worker answers within ``timeout`` seconds. Raises the broker's error
    when the broadcast cannot be sent."""

    replies = current_app.control.inspect(timeout=timeout).active_queues() or {}
    consumers: dict[str, list[str]] = {}
    for worker, queues in replies.items():
        for queue in queues:
            consumers.setdefault(queue["name"], []).append(worker)
    return consumers


def queues_without_workers(*, timeout: float) -> list[str]:
    """The expected queues no live worker consumes (empty: all served)."""

    served = live_queues(timeout=timeout)
    expected = expected_queues(current_app.conf.task_default_queue)
    return sorted(queue for queue in expected if not served.get(queue))
