"""Celery worker subprocesses for the benchmark (``celery -A shop worker``, prefork).

Each worker runs in a session of its own, so stopping it (TERM, then KILL of its
process group after a grace period) also ends its pool children and nothing else.
The broker's queue is purged before they start, so no task left by an earlier run is
counted.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from django.conf import settings

import redis

_SUCCEEDED = re.compile(rb"succeeded in ([0-9.]+)s")
CELERY = str(Path(sys.executable).with_name("celery"))
QUEUE = "celery"
KOMBU_KEYS = ("unacked", "unacked_index", "unacked_mutex")


class WorkerFailed(RuntimeError):
    """A worker exited or did not become ready."""


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


class Workers:
    """``count`` workers of ``concurrency`` prefork processes each."""

    def __init__(self, *, count: int, concurrency: int, log_dir: Path) -> None:
        self.count = count
        self.concurrency = concurrency
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("DATABASE_URL", database_url())  # else inherited: the same
        env.update(
            DJANGO_SETTINGS_MODULE="bench.settings",
            REDIS_URL=settings.CELERY_BROKER_URL,
            EVENTS_DISPATCHER="celery",
        )
        return env

    def start(self, *, timeout: float = 60.0) -> None:
        purge()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for number in range(self.count):
            path = self.log_dir / f"worker-{number}.log"
            with path.open("wb") as out:
                proc = subprocess.Popen(  # noqa: S603
                    [
                        CELERY,
                        "-A",
                        "shop",
                        "worker",
                        "--pool=prefork",
                        f"--concurrency={self.concurrency}",
                        f"--hostname=bench{number}@%h",
                        "--loglevel=INFO",
                        "--without-gossip",
                        "--without-mingle",
                        "--without-heartbeat",
                    ],
                    cwd=settings.BASE_DIR,
                    env=self.environment(),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            self.procs.append(proc)
            self.logs.append(path)
        deadline = time.monotonic() + timeout
        for proc, path in zip(self.procs, self.logs, strict=True):
            while b" ready." not in path.read_bytes():
                if exited(proc):
                    raise WorkerFailed(f"a worker exited; see {path}")
                if time.monotonic() > deadline:
                    raise WorkerFailed(f"worker not ready after {timeout:.0f}s; {path}")
                time.sleep(0.1)

    def log_sizes(self) -> list[int]:
        return [path.stat().st_size for path in self.logs]

    def task_times(self, since: list[int]) -> list[float]:
        """Run times of the tasks the workers finished since ``since`` (log sizes),
        from their INFO lines ("Task ... succeeded in 0.012s")."""
        times = []
        for path, offset in zip(self.logs, since, strict=True):
            with path.open("rb") as log:
                log.seek(offset)
                times += [float(t) for t in _SUCCEEDED.findall(log.read())]
        return times

    def check(self) -> None:
        for proc, path in zip(self.procs, self.logs, strict=True):
            if exited(proc):
                raise WorkerFailed(f"a worker exited; see {path}")

    def stop(self, *, grace: float = 15.0) -> None:
        """Warm shutdown (TERM), then KILL the worker's own process group."""
        stop_groups(self.procs, grace=grace)
        self.procs.clear()

    def __enter__(self) -> Workers:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether it has exited, without reaping it (WNOWAIT)."""
    if proc.returncode is not None:
        return True
    try:
        found = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return found is not None


def signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(proc.pid, sig)  # the session we started it in: pgid == its pid
    except ProcessLookupError:
        pass


def reap_group(proc: subprocess.Popen[bytes], deadline: float) -> None:
    """Wait until ``deadline`` (monotonic) for it to exit, then KILL what is left of
    its process group (children left behind) and reap it."""
    while not exited(proc) and time.monotonic() < deadline:
        time.sleep(0.05)
    # Not reaped yet, so its pid (the group id) cannot have been reused.
    signal_group(proc, signal.SIGKILL)
    proc.wait()


def stop_groups(procs: list[subprocess.Popen[bytes]], *, grace: float) -> None:
    """TERM every process group at once (a graceful or warm shutdown), give them
    ``grace`` seconds together, then KILL and reap each."""
    for proc in procs:
        if not exited(proc):
            signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        reap_group(proc, deadline)


def database_url() -> str:
    db = settings.DATABASES["default"]
    auth = quote(db.get("USER") or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{auth}{'@' if auth else ''}{host}:{port}/{db['NAME']}"
