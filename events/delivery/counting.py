"""Counting deliveries in ``events.meters``, at the points where they happen.

Counts are taken when the transaction that makes them true commits
(``transaction.on_commit``), so what is rolled back and done again (a failed batch
redone one message at a time, a checkpoint that moved under the drain) counts once,
and a message the inbox skips (a redelivery) is never fresh, so never counted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from ..messages import Envelope
from ..meters import (
    dead_lettered,
    failed,
    handled,
    handled_latency,
    handler_duration,
    retried,
)


def handled_on_commit(subscription: str, fresh: Sequence[Envelope]) -> None:
    """Count ``fresh`` (claimed in the inbox in this transaction) as handled, and
    their latency from commit to handled, when the transaction commits."""
    if fresh:
        recorded = [envelope.recorded_at for envelope in fresh]
        transaction.on_commit(lambda: _handled(subscription, recorded))


def _handled(subscription: str, recorded: list[datetime]) -> None:
    now = timezone.now()
    handled.labels(subscription).inc(len(recorded))
    latency = handled_latency.labels(subscription)
    for at in recorded:
        latency.observe(max((now - at).total_seconds(), 0.0))


def failed_on_commit(subscription: str) -> None:
    """Count a failed attempt when its record commits (at once outside a
    transaction: a redrive's failure)."""
    transaction.on_commit(failed.labels(subscription).inc)


def retried_on_commit(subscription: str) -> None:
    transaction.on_commit(retried.labels(subscription).inc)


def dead_lettered_on_commit(subscription: str) -> None:
    transaction.on_commit(dead_lettered.labels(subscription).inc)


@contextmanager
def timed(subscription: str) -> Iterator[None]:
    """Observe the time of one handler call (raised or returned)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        handler_duration.labels(subscription).observe(time.perf_counter() - start)
