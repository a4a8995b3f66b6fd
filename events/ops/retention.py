"""Retention: pruning old integration messages in short, bounded transactions.

Event-sourced stream rows are never deleted. Another row is deleted only when it is
older than its topic's retention *and* every subscription that reads its topic has
moved past it, so a consumer that is behind never loses a message. Each batch is one
short transaction deleting at most ``EVENTS_PRUNE_BATCH`` rows by primary key, so no
long lock is held.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from ..delivery.subscriptions import registry
from ..log import reader
from ..log.layout import partition_count
from ..log.unit import unit_of_work
from ..models import Checkpoint, InboxEntry, LogEntry


@dataclass
class PruneReport:
    deleted: dict[str, int] = field(default_factory=dict)  # topic -> log rows
    inbox_deleted: int = 0


def retention_for(topic: str) -> timedelta | None:
    """A topic's retention; None keeps it forever."""
    return settings.EVENTS_RETENTION.get(topic, settings.EVENTS_RETENTION_DEFAULT)


def safe_offset(topic: str, partition: int) -> int:
    """The highest offset of a partition that every reader of ``topic`` has passed."""
    readers = [s.name for s in registry.reading(topic)]
    if not readers:
        return reader.head(partition)
    positions = dict(
        Checkpoint.objects.filter(
            subscription__in=readers, partition=partition
        ).values_list("subscription", "position")
    )
    return min(positions.get(name, 0) for name in readers)


def prune_log(*, now: datetime | None = None, batch: int | None = None) -> PruneReport:
    now = now or timezone.now()
    batch = batch or settings.EVENTS_PRUNE_BATCH
    report = PruneReport()
    topics = LogEntry.objects.values_list("topic", flat=True).distinct()
    for topic in sorted(set(topics)):
        retention = retention_for(topic)
        if retention is None:
            continue
        for partition in range(partition_count()):
            deleted = _prune_partition(topic, partition, now - retention, batch)
            if deleted:
                report.deleted[topic] = report.deleted.get(topic, 0) + deleted
    report.inbox_deleted = _prune_inbox(now - settings.EVENTS_RETENTION_DEFAULT, batch)
    return report


def _prune_partition(topic: str, partition: int, cutoff: datetime, batch: int) -> int:
    upto = safe_offset(topic, partition)
    total = 0
    while True:
        ids = list(
            LogEntry.objects.filter(
                topic=topic,
                partition=partition,
                offset__lte=upto,
                recorded_at__lt=cutoff,
                stream__isnull=True,  # aggregate histories are kept forever
            )
            .order_by("offset")
            .values_list("id", flat=True)[:batch]
        )
        if not ids:
            return total
        with unit_of_work():
            deleted, _ = LogEntry.objects.filter(id__in=ids).delete()
        total += deleted


def _prune_inbox(cutoff: datetime, batch: int) -> int:
    """Inbox records outlive their messages by the default retention at most."""
    total = 0
    while True:
        ids = list(
            InboxEntry.objects.filter(handled_at__lt=cutoff).values_list(
                "id", flat=True
            )[:batch]
        )
        if not ids:
            return total
        with unit_of_work():
            deleted, _ = InboxEntry.objects.filter(id__in=ids).delete()
        total += deleted
