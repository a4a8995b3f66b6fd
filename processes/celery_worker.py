"""A real ``celery -A shop worker`` subprocess, as production runs it: the one helper
that the tests (``tests.support.workers``) and the benchmarks (``bench.common.workers``,
``bench.blackfriday.workers``) start workers with.

The worker runs in a session of its own, so stopping it (TERM: a warm shutdown, then
KILL of its process group after a grace period) also ends its pool children and an
embedded beat, and nothing else. Its output (stdout and stderr) goes to a log file,
which :meth:`CeleryWorker.wait_for_log` reads; the caller gives the environment
(settings, database, broker).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote

from . import BASE_DIR
from .groups import exited, group_cpu_seconds, reap_group, signal_group
from .waiting import wait_until


class WorkerFailed(RuntimeError):
    """A worker exited (or was never started)."""


def database_url(
    settings_dict: Mapping[str, Any], *, application_name: str | None = None
) -> str:
    """A DATABASE_URL for the database of ``settings_dict`` (Django's), so that a
    worker subprocess connects where this process does; ``application_name`` tags
    the worker's sessions (``pg_stat_activity``)."""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    name = quote(settings_dict["NAME"], safe="")
    query = f"?application_name={application_name}" if application_name else ""
    return f"postgres://{auth}{host}:{port}/{name}{query}"


class CeleryWorker:
    """One worker named ``name`` (its hostname ``name@%h``), consuming ``queues``
    (empty: Celery's default queue only) with ``concurrency`` processes or threads
    of ``pool``; with ``beat_schedule`` it embeds the beat (``--beat``)."""

    def __init__(
        self,
        *,
        name: str,
        env: Mapping[str, str],
        log: Path,
        concurrency: int = 2,
        pool: str = "prefork",
        queues: Sequence[str] = (),
        beat_schedule: Path | None = None,
    ) -> None:
        self.name = name
        self.env = dict(env)
        self.log = log
        self.concurrency = concurrency
        self.pool = pool
        self.queues = tuple(queues)
        self.beat_schedule = beat_schedule
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "shop",
            "worker",
            "--loglevel=INFO",
            f"--pool={self.pool}",
            f"--concurrency={self.concurrency}",
            f"--hostname={self.name}@%h",
            # No broadcast chatter with other workers: faster start, and another
            # worker (of another test or run) never answers this one.
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        if self.queues:
            command.append(f"--queues={','.join(self.queues)}")
        if self.beat_schedule is not None:
            command += ["--beat", f"--schedule={self.beat_schedule}"]
        return command

    def environment(self) -> dict[str, str]:
        """What the worker runs with (read at :meth:`start`)."""
        return {"PYTHONUNBUFFERED": "1", **self.env}

    @property
    def pid(self) -> int:
        if self.process is None:
            raise WorkerFailed(f"worker {self.name} was never started")
        return self.process.pid

    @property
    def output(self) -> str:
        """Everything it has logged so far."""
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self) -> None:
        """Start it, without waiting (:meth:`wait_ready`), so several start at once."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        if self.beat_schedule is not None:
            self.beat_schedule.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(  # noqa: S603
                self.command(),
                cwd=BASE_DIR,
                env=self.environment(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: the pool goes too
            )

    def wait_ready(self, *, timeout: float = 60.0) -> None:
        self.wait_for_log(r"\bready\.", timeout=timeout)

    def wait_for_log(self, pattern: str, *, timeout: float = 10.0) -> re.Match[str]:
        """Wait until a line of its output matches ``pattern`` (searched line by
        line); :class:`WorkerFailed` if it exits first."""
        regex = re.compile(pattern)

        def logged() -> re.Match[str] | None:
            running = not self.exited()  # before reading: its last lines are in
            for line in self.output.splitlines():
                if found := regex.search(line):
                    return found
            if not running:
                raise WorkerFailed(
                    f"worker {self.name} exited before logging {pattern!r}; "
                    f"its output:\n{self.tail()}"
                )
            return None

        return wait_until(
            logged,
            f"worker {self.name} to log {pattern!r}",
            timeout=timeout,
            explain=lambda: f"its output:\n{self.tail()}",
        )

    def tail(self, size: int = 6000) -> str:
        return self.output[-size:]

    def exited(self) -> bool:
        return self.process is None or exited(self.process)

    def check(self) -> None:
        if self.exited():
            raise WorkerFailed(f"worker {self.name} exited; see {self.log}")

    def signal(self, sig: signal.Signals) -> None:
        """``sig`` to the whole process group, while it runs."""
        if not self.exited():
            assert self.process is not None
            signal_group(self.process, sig)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of its process group so far."""
        return group_cpu_seconds(self.pid)

    def begin_stop(self) -> None:
        """SIGTERM to the main process (a warm shutdown: running tasks finish; the
        pool children reset SIGTERM to its default, so a TERM of the whole group
        would cut them off) without waiting, so that several workers shut down side
        by side before :meth:`reap` waits for each."""
        if not self.exited():
            assert self.process is not None
            os.kill(self.process.pid, signal.SIGTERM)  # not reaped: still its pid

    def reap(self, deadline: float) -> None:
        """Wait until ``deadline`` (monotonic) for it to exit, then KILL what is left
        of its group (pool children or beat left behind) and reap it."""
        if self.process is not None and self.process.returncode is None:
            reap_group(self.process, deadline)

    def stop(self, *, grace: float = 10.0) -> None:
        """Warm shutdown, then KILL after ``grace`` seconds."""
        self.begin_stop()
        self.reap(time.monotonic() + grace)

    def kill(self) -> None:
        """SIGKILL the worker and its pool at once, as a lost machine would."""
        self.signal(signal.SIGKILL)
        self.reap(time.monotonic() + 10)


class WorkerSet:
    """Workers started together and stopped together (also on an exception or
    Ctrl-C): ``with WorkerSet(workers): ...``."""

    def __init__(self, workers: Sequence[CeleryWorker]) -> None:
        self.all = list(workers)

    def start(self, *, timeout: float = 60.0) -> None:
        try:
            for worker in self.all:
                worker.start()
            deadline = time.monotonic() + timeout
            for worker in self.all:
                worker.wait_ready(timeout=max(0.0, deadline - time.monotonic()))
        except BaseException:
            self.stop(grace=5.0)
            raise

    def check(self) -> None:
        for worker in self.all:
            worker.check()

    def stop(self, *, grace: float = 15.0) -> None:
        """Warm shutdown (TERM) of all at once, then KILL what is left."""
        for worker in self.all:
            worker.begin_stop()
        deadline = time.monotonic() + grace
        for worker in self.all:
            worker.reap(deadline)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
