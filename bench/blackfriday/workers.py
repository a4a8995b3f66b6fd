"""The Black Friday bench's processes: its Redis broker DB, and the two Celery workers
production runs (the README's process table), started with
``processes.celery_worker`` (the helper the tests use too).

* ``default``: ``celery -A shop worker -Q celery --pool prefork`` with the beat
  embedded (``--beat``: the sweep and the saga deadlines every
  ``EVENTS_SWEEP_SECONDS``, as ``celery beat`` does in production);
* ``payments``: ``celery -A shop worker -Q payments --pool threads`` with a thread per
  drain that can run at once (``EVENTS_PARTITIONS`` x the payments concurrency).

Each worker runs in a session of its own; stopping it (TERM, then KILL of its process
group after a grace period) also ends its pool and embedded beat, and nothing else.

The broker DB is claimed the way the test suite claims its brokers
(``processes.brokers``), so a test run never picks it and flushes it under the bench,
and the bench refuses a DB a test holds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings

import redis

from bench.common import workers
from processes.brokers import Claim, db_number
from processes.celery_worker import CeleryWorker, WorkerSet

CLAIM_SECONDS = 1800


class BrokerBusy(RuntimeError):
    """The bench's Redis DB is DB 0 or is held by a test run."""


class Broker:
    """The claimed Redis DB of the bench (``settings.REDIS_URL``)."""

    def __init__(self) -> None:
        self.url = settings.REDIS_URL
        self.number = db_number(self.url)
        if self.number == 0:
            raise BrokerBusy(
                "the bench flushes its Redis DB: give it one of its own "
                "(BLACKFRIDAY_REDIS_URL=redis://127.0.0.1:6379/13), not DB 0"
            )
        self.claim_ = Claim(
            self.url, self.number, owner="bench-blackfriday", seconds=CLAIM_SECONDS
        )
        self.client = redis.Redis.from_url(self.url, socket_timeout=5)

    def claim(self) -> None:
        """Take (or extend) the claim; refuse a DB that a test run holds."""
        if not self.claim_.take():
            raise BrokerBusy(
                f"Redis DB {self.number} is claimed by another run "
                f"({self.claim_.key}); set BLACKFRIDAY_REDIS_URL to another DB"
            )

    def flush(self) -> None:
        """Empty the DB: queues, wake-up flags, delayed retries, provider counters."""
        self.claim()
        self.client.flushdb()

    def queued(self, queue: str) -> int:
        return int(self.client.llen(queue))

    def release(self) -> None:
        """Leave the DB empty and give the claim back (only while it is ours)."""
        if self.claim_.held():
            self.client.flushdb()
        self.claim_.release()


class Workers(WorkerSet):
    """The default-queue worker (with the beat) and the payments worker, started
    together and stopped together (also on an exception or Ctrl-C), logging to
    ``log_dir/blackfriday-<tag>-<queue>.log``."""

    def __init__(
        self,
        *,
        env: dict[str, str],
        concurrency: int,
        payment_threads: int,
        log_dir: Path,
        tag: str,
    ) -> None:
        self.schedule = log_dir / "blackfriday-beat" / "schedule"
        super().__init__(
            [
                CeleryWorker(
                    name=f"bf-{tag}-default",
                    env=env,
                    log=log_dir / f"blackfriday-{tag}-default.log",
                    queues=(workers.QUEUE,),
                    pool="prefork",
                    concurrency=concurrency,
                    beat_schedule=self.schedule,
                ),
                CeleryWorker(
                    name=f"bf-{tag}-payments",
                    # with EVENTS_WAKE=notify the worker's own lanes drain: as many
                    # payments partitions at once as in broker mode's pool
                    env={**env, "EVENTS_WORKER_THREADS": str(payment_threads)},
                    log=log_dir / f"blackfriday-{tag}-payments.log",
                    queues=("payments",),
                    pool="threads",
                    concurrency=payment_threads,
                ),
            ]
        )

    def start(self, *, timeout: float = 60.0) -> None:
        shutil.rmtree(self.schedule.parent, ignore_errors=True)  # no earlier beat state
        super().start(timeout=timeout)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time of each worker so far, by queue ("default", "payments")."""
        return {w.name.rpartition("-")[2]: w.cpu_seconds() for w in self.all}
