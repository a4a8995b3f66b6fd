"""Celery worker subprocesses for the delivery benchmarks (``python -m bench``,
``bench.scale``): ``count`` workers (``processes.celery_worker``, the helper the tests
use too) on the bench settings and database, logging to ``log_dir/worker-N.log``.

The broker's queue is purged before they start, so no task left by an earlier run is
counted.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from django.conf import settings

import redis

from processes.celery_worker import CeleryWorker, WorkerSet, database_url

_SUCCEEDED = re.compile(rb"succeeded in ([0-9.]+)s")
QUEUE = "celery"
KOMBU_KEYS = ("unacked", "unacked_index", "unacked_mutex")


def broker() -> redis.Redis:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=5)


def purge() -> int:
    """Drop the queued and unacknowledged tasks of the default queue."""
    client = broker()
    queues = [QUEUE, *client.scan_iter(match=f"{QUEUE}\x06\x16*")]
    queued = sum(client.llen(q) for q in queues)
    client.delete(*queues, *KOMBU_KEYS)
    return queued


def queued() -> int:
    client = broker()
    return sum(client.llen(q) for q in [QUEUE, *client.scan_iter(f"{QUEUE}\x06\x16*")])


def environment(settings_module: str) -> dict[str, str]:
    env = dict(os.environ)
    # else inherited: the same database
    env.setdefault("DATABASE_URL", database_url(settings.DATABASES["default"]))
    env.update(
        DJANGO_SETTINGS_MODULE=settings_module,
        REDIS_URL=settings.CELERY_BROKER_URL,
        EVENTS_DISPATCHER="celery",
    )
    return env


class Workers(WorkerSet):
    """``count`` workers of ``concurrency`` prefork processes each, consuming
    ``queues`` (default: Celery's default queue only), on ``settings_module`` (the
    bench's settings: its database and broker)."""

    def __init__(
        self,
        *,
        count: int,
        concurrency: int,
        log_dir: Path,
        queues: tuple[str, ...] = (),
        settings_module: str = "bench.settings",
    ) -> None:
        self.count = count
        self.concurrency = concurrency
        self.log_dir = log_dir
        super().__init__(
            [
                CeleryWorker(
                    name=f"bench{number}",
                    env=environment(settings_module),
                    log=log_dir / f"worker-{number}.log",
                    concurrency=concurrency,
                    queues=queues,
                )
                for number in range(count)
            ]
        )

    def start(self, *, timeout: float = 60.0) -> None:
        purge()
        super().start(timeout=timeout)

    def log_sizes(self) -> list[int]:
        return [worker.log.stat().st_size for worker in self.all]

    def task_times(self, since: list[int]) -> list[float]:
        """Run times of the tasks the workers finished since ``since`` (log sizes),
        from their INFO lines ("Task ... succeeded in 0.012s")."""
        times = []
        for worker, offset in zip(self.all, since, strict=True):
            with worker.log.open("rb") as log:
                log.seek(offset)
                times += [float(t) for t in _SUCCEEDED.findall(log.read())]
        return times
