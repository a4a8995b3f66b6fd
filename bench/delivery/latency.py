"""Commit-to-handler latency with the Celery dispatcher, at a steady moderate rate.

The publisher commits one message per transaction at ``rate`` per second. Its first
on-commit callback (registered before ``publish`` registers the wake-up, and callbacks
run in order) records ``time.time()`` right after the commit; the handler records its
own ``time.time()`` in ``bench_handled``. Latency = handler time - commit time, both
from this machine's clock. The first ``warmup`` seconds are published but not counted.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from uuid import UUID

from django.db import transaction

from bench.app import handlers
from bench.app.contracts import Ping
from bench.app.models import Handled
from bench.common import db, harness, workers
from bench.common.report import percentile
from events.dispatch.celery import CeleryDispatcher
from events.log import reader
from events.log.outbox import publish


@dataclass
class Latency:
    rate: float
    achieved_rate: float
    seconds: float
    messages: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    publish_ms_p50: float
    queue_max: int
    queue_at_catch_up: int
    tasks: int
    task_ms_p50: float
    task_ms_p99: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def measure(
    *, rate: float, seconds: float, warmup: float, pool: workers.Workers
) -> Latency:
    db.reset()
    logs = pool.log_sizes()
    queue_max = 0
    committed: dict[UUID, float] = {}
    publish_times: list[float] = []
    total, warm = int((warmup + seconds) * rate), int(warmup * rate)
    with (
        harness.dispatcher(CeleryDispatcher()),
        harness.progress(total, "latency") as bar,
    ):
        start = time.perf_counter()
        measured_start = start
        for i in range(total):
            if i == warm:
                measured_start = time.perf_counter()
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            stamp: list[float] = []
            began = time.perf_counter()
            with transaction.atomic():
                # mypy cannot infer a lambda with a default argument
                transaction.on_commit(lambda stamp=stamp: stamp.append(time.time()))  # type: ignore[misc]
                (item,) = publish(Ping(key=f"k{i}", n=i))
            publish_times.append(time.perf_counter() - began)
            if i >= warm:
                committed[item.message_id] = stamp[0]
            if i % 100 == 0:
                queue_max = max(queue_max, workers.queued())
            bar.update()
        published = time.perf_counter() - measured_start
    heads = {p: h for p, h in reader.heads().items() if h > 0}
    harness.wait_caught_up(handlers.latency, heads, desc="latency drain")
    queue_at_catch_up = workers.queued()  # redundant wake-ups still waiting
    task_ms = sorted(t * 1000 for t in pool.task_times(logs)) or [math.nan]
    handled = dict(
        Handled.objects.filter(message_id__in=list(committed)).values_list(
            "message_id", "handled_at"
        )
    )
    missing = set(committed) - set(handled)
    if missing:
        raise AssertionError(f"{len(missing)} latency messages were not handled")
    ordered = sorted((handled[m] - t) * 1000 for m, t in committed.items())
    publish_ms = sorted(t * 1000 for t in publish_times)
    return Latency(
        rate=rate,
        achieved_rate=len(committed) / published,
        seconds=published,
        messages=len(committed),
        p50_ms=percentile(ordered, 50),
        p95_ms=percentile(ordered, 95),
        p99_ms=percentile(ordered, 99),
        max_ms=ordered[-1],
        mean_ms=sum(ordered) / len(ordered),
        publish_ms_p50=percentile(publish_ms, 50),
        queue_max=queue_max,
        queue_at_catch_up=queue_at_catch_up,
        tasks=len(task_ms),
        task_ms_p50=percentile(task_ms, 50),
        task_ms_p99=percentile(task_ms, 99),
    )
