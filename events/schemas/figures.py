"""Live figures per message type, read from the database when the catalog is shown:
messages in the log (per version), how many of them each consuming subscription has
not handled yet (its lag in that type), and parked dead letters per subscription."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Count, Q

from ..log.layout import partition_count
from ..models import Checkpoint, DeadLetter, LogEntry
from .model import SubscriptionSpec


def log_counts() -> dict[tuple[str, int], int]:
    """(type, version) -> messages of it in the log (one grouped query)."""
    rows = LogEntry.objects.values_list("type", "version").annotate(n=Count("id"))
    return {(t, v): n for t, v, n in rows}


def parked_dead_letters() -> dict[str, dict[str, int]]:
    """type -> subscription -> parked dead letters of that type."""
    rows = (
        DeadLetter.objects.filter(status=DeadLetter.Status.PARKED)
        .values_list("type", "subscription")
        .annotate(n=Count("id"))
    )
    found: dict[str, dict[str, int]] = defaultdict(dict)
    for type_name, subscription, n in rows:
        found[type_name][subscription] = n
    return dict(found)


def lag_by_type(
    subscriptions: Iterable[SubscriptionSpec],
) -> dict[tuple[str, str], int]:
    """(subscription, type) -> messages of that type past the subscription's
    checkpoints (one query per subscription; a partition without a checkpoint row
    counts from the start, as ``events status`` does)."""
    lag: dict[tuple[str, str], int] = {}
    for subscription in subscriptions:
        if not subscription.handles:
            continue
        positions = dict(
            Checkpoint.objects.filter(subscription=subscription.name).values_list(
                "partition", "position"
            )
        )
        behind = Q()
        for partition in range(partition_count()):
            behind |= Q(partition=partition, offset__gt=positions.get(partition, 0))
        rows = (
            LogEntry.objects.filter(
                topic__in=subscription.topics, type__in=subscription.handles
            )
            .filter(behind)
            .values_list("type")
            .annotate(n=Count("id"))
        )
        for type_name, n in rows:
            lag[(subscription.name, type_name)] = n
    return lag
