"""Delivery throughput: messages per second from a pre-loaded log to a subscription.

Method: load ``count`` messages into the log (through the outbox, 500 per transaction,
no dispatcher woken), then start the clock, wake every partition of the subscription,
and stop it when every checkpoint has reached its partition's head. The in-process
variant runs the in-process dispatcher's threads in this process; the Celery variant
sends the same wake-ups to ``celery worker`` subprocesses that are already running.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from django.conf import settings

from bench.app import handlers
from bench.app.contracts import Noop, RowWritten, RowWrittenSingly
from bench.app.models import Row
from bench.common import db, harness, workers
from events.delivery.subscriptions import Subscription
from events.dispatch.celery import CeleryDispatcher
from events.dispatch.inprocess import InProcessDispatcher
from events.messages import Message
from events.models import InboxEntry

SUBJECTS: dict[str, tuple[Subscription, type[Message], bool]] = {
    # name: (subscription, message type, writes one bench_row per message)
    "noop": (handlers.noop, Noop, False),
    "rows": (handlers.rows, RowWritten, True),
    "rows_single": (handlers.rows_single, RowWrittenSingly, True),
}


@dataclass
class Throughput:
    dispatcher: str
    subject: str
    messages: int
    seconds: float
    per_second: float
    partitions: int
    load_per_second: float
    checks: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class CheckFailed(AssertionError):
    """The run did not deliver every message exactly once."""


def measure(kind: str, subject: str, count: int) -> Throughput:
    subscription, message_type, writes_rows = SUBJECTS[subject]
    db.reset()
    loaded = time.perf_counter()
    heads = harness.preload(message_type, count)
    load_rate = count / (time.perf_counter() - loaded)
    db.analyze()
    harness.park_others(subscription, heads)
    desc = f"{kind} {subject}"
    if kind == "inprocess":
        dispatcher = InProcessDispatcher(
            threads=settings.EVENTS_INPROCESS_THREADS,
            sweep_seconds=settings.EVENTS_SWEEP_SECONDS,
        )
        with harness.dispatcher(dispatcher):
            start = time.perf_counter()  # before start(): its sweep may wake them too
            dispatcher.start()
            try:
                harness.release(subscription, heads, dispatcher)
                harness.wait_caught_up(subscription, heads, desc=desc)
                elapsed = time.perf_counter() - start
            finally:
                dispatcher.stop()
    elif kind == "celery":
        with harness.dispatcher(CeleryDispatcher()):
            start = time.perf_counter()
            harness.release(subscription, heads, CeleryDispatcher())
            harness.wait_caught_up(subscription, heads, desc=desc)
            elapsed = time.perf_counter() - start
        settle_queue()
    else:
        raise ValueError(f"unknown dispatcher {kind!r}")
    checks = {
        "inbox": InboxEntry.objects.filter(subscription=subscription.name).count(),
        "dead_letters": harness.dead_letters(),
    }
    if writes_rows:
        checks["rows"] = Row.objects.count()
    if (
        checks["inbox"] != count
        or checks["dead_letters"]
        or checks.get("rows", count) != count
    ):
        raise CheckFailed(f"{desc}: expected {count} handled once, got {checks}")
    return Throughput(
        dispatcher=kind,
        subject=subject,
        messages=count,
        seconds=elapsed,
        per_second=count / elapsed,
        partitions=len(heads),
        load_per_second=load_rate,
        checks=checks,
    )


def settle_queue(timeout: float = 10.0) -> None:
    """Let the workers take the tasks still queued (re-queued drains that will find
    nothing), so they do not run during the next scenario's measurement."""
    deadline = time.monotonic() + timeout
    while workers.queued() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # the last taken task finishing its final look
