"""The Black Friday bench's processes: its Redis broker DB, and the two Celery workers
production runs (the README's process table).

* ``default``: ``celery -A shop worker -Q celery --pool prefork`` with the beat
  embedded (``--beat``: the sweep and the saga deadlines every
  ``EVENTS_SWEEP_SECONDS``, as ``celery beat`` does in production);
* ``payments``: ``celery -A shop worker -Q payments --pool threads`` with a thread per
  drain that can run at once (``EVENTS_PARTITIONS`` x the payments concurrency).

Each worker runs in a session of its own; stopping it (TERM, then KILL of its process
group after a grace period) also ends its pool and embedded beat, and nothing else.

The broker DB is claimed the way the test suite claims its brokers
(``tests.workers.CLAIM_PREFIX`` keys in DB 0, with an expiry), so a test run never
picks it and flushes it under the bench, and the bench refuses a DB a test holds.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

import redis

from . import workers
from .workers import CELERY, WorkerFailed, exited, reap_group, signal_group

CLAIM_PREFIX = "shop-tests:broker-db:"  # tests/workers.py: the claims of test brokers
CLAIM_SECONDS = 1800


class BrokerBusy(RuntimeError):
    """The bench's Redis DB is DB 0 or is held by a test run."""


class Broker:
    """The claimed Redis DB of the bench (``settings.REDIS_URL``)."""

    def __init__(self) -> None:
        self.url = settings.REDIS_URL
        parts = urlsplit(self.url)
        self.number = int(parts.path.strip("/") or 0)
        if self.number == 0:
            raise BrokerBusy(
                "the bench flushes its Redis DB: give it one of its own "
                "(BLACKFRIDAY_REDIS_URL=redis://127.0.0.1:6379/13), not DB 0"
            )
        self.claims = redis.Redis.from_url(
            urlunsplit(parts._replace(path="/0")), socket_timeout=5
        )
        self.client = redis.Redis.from_url(self.url, socket_timeout=5)
        self.key = f"{CLAIM_PREFIX}{self.number}"
        self.token = f"bench-blackfriday:{os.getpid()}:{uuid.uuid4().hex}"

    def claim(self) -> None:
        """Take (or extend) the claim; refuse a DB that a test run holds."""
        if self.claims.set(self.key, self.token, nx=True, ex=CLAIM_SECONDS):
            return
        if self.claims.get(self.key) == self.token.encode():
            self.claims.expire(self.key, CLAIM_SECONDS)
            return
        raise BrokerBusy(
            f"Redis DB {self.number} is claimed by another run ({self.key}); "
            "set BLACKFRIDAY_REDIS_URL to another DB"
        )

    def flush(self) -> None:
        """Empty the DB: queues, wake-up flags, delayed retries, provider counters."""
        self.claim()
        self.client.flushdb()

    def queued(self, queue: str) -> int:
        return int(self.client.llen(queue))

    def release(self) -> None:
        """Leave the DB empty and give the claim back (only while it is ours)."""
        if self.claims.get(self.key) == self.token.encode():
            self.client.flushdb()
            self.claims.delete(self.key)


class Worker:
    """One ``celery -A shop worker`` subprocess serving ``queue``."""

    def __init__(
        self,
        name: str,
        *,
        queue: str,
        pool: str,
        concurrency: int,
        env: dict[str, str],
        log_dir: Path,
        beat: bool = False,
    ) -> None:
        self.name = name
        self.log = log_dir / f"blackfriday-{name}.log"
        self.schedule = log_dir / "blackfriday-beat" / "schedule"
        self.command = [
            CELERY,
            "-A",
            "shop",
            "worker",
            f"--queues={queue}",
            f"--pool={pool}",
            f"--concurrency={concurrency}",
            f"--hostname=bf-{name}@%h",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        if beat:
            self.command += ["--beat", f"--schedule={self.schedule}"]
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.schedule.parent, ignore_errors=True)  # no earlier beat state
        self.schedule.parent.mkdir()
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(  # noqa: S603
                self.command,
                cwd=settings.BASE_DIR,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def wait_ready(self, deadline: float) -> None:
        while b" ready." not in self.log.read_bytes():
            self.check()
            if time.monotonic() > deadline:
                raise WorkerFailed(f"worker {self.name} not ready; see {self.log}")
            time.sleep(0.1)

    def check(self) -> None:
        if self.proc is None or exited(self.proc):
            raise WorkerFailed(f"worker {self.name} exited; see {self.log}")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the worker's process group so far: its live
        processes and the children they reaped (Linux ``/proc``; NaN elsewhere)."""
        if self.proc is None:
            return math.nan
        return group_cpu_seconds(self.proc.pid)

    def signal(self, sig: signal.Signals) -> None:
        if self.proc is not None and not exited(self.proc):
            signal_group(self.proc, sig)

    def reap(self, deadline: float) -> None:
        if self.proc is None:
            return
        reap_group(self.proc, deadline)  # pool children or beat left behind: KILLed
        self.proc = None


class Workers:
    """The default-queue worker (with the beat) and the payments worker, started
    together and stopped together (also on an exception or Ctrl-C)."""

    def __init__(
        self,
        *,
        env: dict[str, str],
        concurrency: int,
        payment_threads: int,
        log_dir: Path,
        tag: str,
    ) -> None:
        self.all = [
            Worker(
                f"{tag}-default",
                queue=workers.QUEUE,
                pool="prefork",
                concurrency=concurrency,
                env=env,
                log_dir=log_dir,
                beat=True,
            ),
            Worker(
                f"{tag}-payments",
                queue="payments",
                pool="threads",
                concurrency=payment_threads,
                env=env,
                log_dir=log_dir,
            ),
        ]

    def check(self) -> None:
        for worker in self.all:
            worker.check()

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time of each worker so far, by queue ("default", "payments")."""
        return {w.name.rpartition("-")[2]: w.cpu_seconds() for w in self.all}

    def stop(self, *, grace: float = 15.0) -> None:
        """Warm shutdown (TERM) of both at once, then KILL what is left. A payments
        drain in the middle of an 8 s call may outlive the grace: it is killed, which
        the platform survives (acks_late; the next phase starts from empty tables)."""
        for worker in self.all:
            worker.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for worker in self.all:
            worker.reap(deadline)

    def __enter__(self) -> Workers:
        try:
            for worker in self.all:
                worker.start()
            deadline = time.monotonic() + 60
            for worker in self.all:
                worker.wait_ready(deadline)
        except BaseException:
            self.stop(grace=5.0)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of the live processes of a process group, with the
    children they have reaped (``/proc/<pid>/stat``: pgrp is field 5, utime, stime,
    cutime, cstime fields 14 to 17)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    try:
        pids = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except FileNotFoundError:
        return math.nan
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[2]) == pgid:
            total += sum(int(value) for value in fields[11:15])
    return total / ticks
