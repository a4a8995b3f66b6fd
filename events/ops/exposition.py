"""What a scrape returns: the counters of this program, and the database's gauges.

The counters (``events.meters``, and django-prometheus' HTTP series in the web
program) are per process. With ``PROMETHEUS_MULTIPROC_DIR`` set, every process of a
program (gunicorn's workers, a Celery worker's pool children) writes them to files of
its own in that directory, and a scrape of any one of them sums the files: the
program's total, with the values of children that exited kept (a counter never goes
back while the program runs). Without it, the process's own registry is the
program's (one process: ``make run``, a threads-pool worker).

The multiprocess directory's upkeep is in ``events.ops.multiproc``. The gauges
(``events.ops.metrics``) are read from the database, so every process
would give the same answer: only the web program's ``/metrics`` serves them, and the
workers' own servers (``events.dispatch.worker_metrics``) serve their counters alone.
"""

from __future__ import annotations

import hmac
import os

from prometheus_client import REGISTRY, generate_latest, multiprocess
from prometheus_client.registry import CollectorRegistry

from ..delivery.subscriptions import registry as subscriptions
from ..meters import dead_lettered, failed, handled, retried
from .multiproc import MULTIPROC_DIR

_COUNTERS = (handled, failed, retried, dead_lettered)


def counters_registry() -> CollectorRegistry:
    """This program's counters and histograms, summed over its processes. Every
    declared subscription's counters are there, at 0 until counted: a series that
    exists has a rate, and an alert on it needs no special case for "never yet"."""
    for subscription in subscriptions.all():
        for counter in _COUNTERS:
            counter.labels(subscription.name)
    if not os.environ.get(MULTIPROC_DIR):
        return REGISTRY
    registry = CollectorRegistry(auto_describe=False)
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # unannotated in prometheus-client
    return registry


def counters_text() -> bytes:
    return generate_latest(counters_registry())


def authorized(header: str, token: str) -> bool:
    """Whether an ``Authorization`` header carries the scraper's bearer ``token``
    (no token configured: every scrape is)."""
    return not token or hmac.compare_digest(header, f"Bearer {token}")
