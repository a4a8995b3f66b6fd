"""Prometheus metrics of the platform, read from the database at scrape time.

Delivery runs in many processes (gunicorn, Celery workers, the in-process dispatcher),
so counters kept in one process's memory would show a fraction of the truth. What an
operator alerts on is state, and the state is in the database: consumer lag, retrying
partitions, dead letters, and sagas by status. A collector reads it on each scrape, so
every process serves the same answer. Alert on, for example::

    events_sagas{status="needs_attention"} > 0        # a saga needs a person (critical)
    max by (subscription) (events_consumer_lag_seconds) > 60
    events_dead_letters{status="parked"} > 0
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from ..delivery.subscriptions import registry as subscriptions
from ..log import reader
from ..models import DeadLetter, SagaInstance
from . import status


class PlatformCollector(Collector):
    """Gauges of the log, the consumer groups, the dead letters and the sagas."""

    def collect(self) -> Iterator[Metric]:
        offsets = reader.heads()  # once per scrape, for the heads and every lag
        yield _heads(offsets)
        yield from _consumers(offsets)
        yield _paused()
        yield _dead_letters()
        yield _sagas()


def _heads(offsets: dict[int, int]) -> Metric:
    heads = GaugeMetricFamily(
        "events_log_head_offset",
        "Last offset of each partition",
        labels=["partition"],
    )
    for partition, head in offsets.items():
        heads.add_metric([str(partition)], head)
    return heads


def _consumers(offsets: dict[int, int]) -> tuple[Metric, ...]:
    lag = GaugeMetricFamily(
        "events_consumer_lag_messages",
        "Messages of the subscription's topics past its checkpoint",
        labels=["subscription", "partition"],
    )
    age = GaugeMetricFamily(
        "events_consumer_lag_seconds",
        "Age of the oldest message the subscription has not handled",
        labels=["subscription", "partition"],
    )
    retrying = GaugeMetricFamily(
        "events_consumer_retrying",
        "1 while a failed message holds the partition for a retry",
        labels=["subscription", "partition"],
    )
    for subscription in subscriptions.all():
        for row in status.partition_status(subscription, heads=offsets):
            labels = [row.subscription, str(row.partition)]
            lag.add_metric(labels, row.lag)
            age.add_metric(labels, row.lag_seconds)
            retrying.add_metric(labels, 1 if row.retrying else 0)
    return lag, age, retrying


def _paused() -> Metric:
    paused = GaugeMetricFamily(
        "events_subscription_paused",
        "1 while the subscription is paused (an outage it met, or by hand)",
        labels=["subscription", "by_hand"],
    )
    pauses = status.pauses()
    for subscription in subscriptions.all():
        pause = pauses.get(subscription.name)
        by_hand = "true" if pause is not None and pause.probe_at is None else "false"
        paused.add_metric([subscription.name, by_hand], 1 if pause else 0)
    return paused


def _dead_letters() -> Metric:
    letters = GaugeMetricFamily(
        "events_dead_letters",
        "Dead letters by subscription and status",
        labels=["subscription", "status"],
    )
    counted = {
        (row["subscription"], row["status"]): row["n"]
        for row in DeadLetter.objects.values("subscription", "status").annotate(
            n=Count("id")
        )
    }
    for subscription in subscriptions.all():  # none parked: a 0, not no series
        counted.setdefault((subscription.name, DeadLetter.Status.PARKED), 0)
    for (subscription_name, status_), n in sorted(counted.items()):
        letters.add_metric([subscription_name, status_], n)
    return letters


def _sagas() -> Metric:
    sagas = GaugeMetricFamily(
        "events_sagas",
        "Saga instances by saga and status",
        labels=["saga", "status"],
    )
    for row in SagaInstance.objects.values("saga", "status").annotate(n=Count("id")):
        sagas.add_metric([row["saga"], row["status"]], row["n"])
    return sagas


def platform_registry() -> CollectorRegistry:
    """A registry holding only the platform's collector (built per scrape: cheap)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PlatformCollector())
    return registry
