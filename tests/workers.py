"""Running a real ``celery -A shop worker`` from a test, as production runs it.

The worker is a subprocess (its own session, so it and its pool children can be
killed together) with the test settings, the pytest-django test database, its own
Redis database as broker (claimed for this run and flushed, so stale tasks from other
runs never reach it) and the Celery dispatcher. It only knows the subscriptions that
apps register in ``ready()`` (``tests.effects.subscriptions``), never those a test
declares in its own process. ``queues`` and ``pool`` choose what it consumes and how
(the Procfile's payments worker: ``queues=("payments",), pool="threads"``).

Teardown stops the worker (SIGTERM, then SIGKILL for the whole process group) and waits
until PostgreSQL has closed its sessions, so pytest-django can drop the test database.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from django.conf import settings
from django.db import connection

import kombu.pools
import redis

BASE_DIR = Path(__file__).resolve().parent.parent
CLAIM_PREFIX = "shop-tests:broker-db:"
CLAIM_SECONDS = 900


class WorkerError(RuntimeError):
    """The worker did not start, or did not log what was awaited, in time."""


def database_url(settings_dict: dict[str, Any], *, application_name: str) -> str:
    """A DATABASE_URL for the database the test process is connected to (the test
    database, once pytest-django has created it), tagging the worker's sessions."""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    name = quote(settings_dict["NAME"], safe="")
    return f"postgres://{auth}{host}:{port}/{name}?application_name={application_name}"


def _with_db(url: str, number: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{number}"))


def _db_count(client: redis.Redis) -> int:
    try:
        return int(client.config_get("databases").get("databases", 16))
    except redis.RedisError:  # CONFIG may be disabled (managed Redis)
        return 16


@contextmanager
def broker_database(base_url: str | None = None) -> Iterator[str]:
    """Claim a Redis database of its own for this test's broker, empty, and give it
    back flushed. The claim is a key with an expiry in the base database, so two test
    runs on one Redis never share (or flush) each other's broker."""
    base_url = base_url or settings.REDIS_URL
    base = redis.Redis.from_url(base_url, socket_timeout=2)
    own = int(urlsplit(base_url).path.strip("/") or 0)
    token = f"{os.getpid()}:{uuid.uuid4().hex}"
    for number in range(1, _db_count(base)):
        key = f"{CLAIM_PREFIX}{number}"
        if number != own and base.set(key, token, nx=True, ex=CLAIM_SECONDS):
            break
    else:
        raise WorkerError("no free Redis database to use as a test broker")
    url = _with_db(base_url, number)
    broker = redis.Redis.from_url(url, socket_timeout=2)
    broker.flushdb()
    try:
        yield url
    finally:
        broker.flushdb()
        broker.close()
        if base.get(key) == token.encode():
            base.delete(key)
        base.close()


@contextmanager
def celery_broker(url: str) -> Iterator[None]:
    """Point this process's Celery app (the one the dispatcher and ``.delay()`` use)
    at ``url``, and back afterwards. Pools are dropped both ways, because a producer
    pool keeps the connection (and so the URL) it was made with."""
    from shop.celery import app

    previous = app.conf.broker_url
    _switch_broker(app, url)
    try:
        yield
    finally:
        _switch_broker(app, previous)


def _switch_broker(app: Any, url: str) -> None:
    # kombu keeps pools per connection URL, process-wide: close and forget them all
    # (this process's only broker user is the Celery app), then drop the app's.
    kombu.pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
    app.conf.broker_url = url


class Worker:
    """One ``celery -A shop worker`` subprocess; use :func:`celery_worker`."""

    def __init__(
        self,
        *,
        broker_url: str,
        concurrency: int = 2,
        beat: bool = False,
        extra_env: dict[str, str] | None = None,
        queues: Sequence[str] = (),
        pool: str = "prefork",
    ) -> None:
        self.name = f"w{uuid.uuid4().hex[:10]}"
        self.broker_url = broker_url
        self.concurrency = concurrency
        self.beat = beat
        self.extra_env = extra_env or {}
        self.queues = tuple(queues)  # empty: Celery's default queue only
        self.pool = pool
        self.process: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self._seen = threading.Condition()
        self._reader: threading.Thread | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="celery-worker-")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def output(self) -> str:
        with self._seen:
            return "".join(self.lines)

    def environment(self) -> dict[str, str]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "shop.settings.test",
            "DATABASE_URL": database_url(
                connection.settings_dict, application_name=self.name
            ),
            "REDIS_URL": self.broker_url,
            "EVENTS_DISPATCHER": "celery",
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "INFO",
            **self.extra_env,
        }
        return env

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
            # No broadcast chatter with other workers: faster start, and a worker of
            # another test never answers this one.
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        if self.queues:
            command.append(f"--queues={','.join(self.queues)}")
        if self.beat:
            command += ["--beat", f"--schedule={self._tmp.name}/beat-schedule"]
        return command

    def start(self, *, timeout: float = 30.0) -> None:
        self.process = subprocess.Popen(
            self.command(),
            cwd=BASE_DIR,
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: kill() takes the pool too
        )
        self._reader = threading.Thread(
            target=self._read, name=f"{self.name}-output", daemon=True
        )
        self._reader.start()
        self.wait_for_log(r"\bready\.", timeout=timeout)

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            with self._seen:
                self.lines.append(line)
                self._seen.notify_all()
        with self._seen:
            self._seen.notify_all()

    def wait_for_log(self, pattern: str, *, timeout: float = 10.0) -> re.Match[str]:
        """Wait until a line of the worker's output matches ``pattern``."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        checked = 0
        with self._seen:
            while True:
                for line in self.lines[checked:]:
                    if found := regex.search(line):
                        return found
                checked = len(self.lines)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (
                    self.process is not None
                    and self.process.poll() is not None
                    and self._reader is not None
                    and not self._reader.is_alive()
                ):
                    raise WorkerError(
                        f"worker {self.name} did not log {pattern!r} within "
                        f"{timeout}s; its output:\n{''.join(self.lines)[-6000:]}"
                    )
                self._seen.wait(min(remaining, 0.5))

    def kill(self) -> None:
        """SIGKILL the worker and its pool at once, as a lost machine would."""
        assert self.process is not None
        _signal_group(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self._join_reader()

    def begin_stop(self) -> None:
        """SIGTERM without waiting, so that several workers shut down side by side
        before :meth:`stop` waits for each (a repeated SIGTERM changes nothing: it
        asks for the same warm shutdown)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, *, timeout: float = 10.0) -> None:
        """SIGTERM (warm shutdown: running tasks finish), then SIGKILL what is left;
        return once PostgreSQL has ended the worker's sessions."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        # Pool processes orphaned by a main process that died on its own, if any (the
        # group id stays taken while a member lives, so it cannot have been reused).
        _signal_group(self.process.pid, signal.SIGKILL)
        self._join_reader()
        self.wait_for_disconnect()
        self._tmp.cleanup()

    def _join_reader(self) -> None:
        if self._reader is not None:
            self._reader.join(10)

    def wait_for_disconnect(self, *, timeout: float = 10.0) -> None:
        """Wait until no PostgreSQL session of this worker is left: a killed client's
        backend exits when it reads EOF, which takes a moment."""
        if connection.vendor != "postgresql":
            return
        deadline = time.monotonic() + timeout
        while True:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                    [self.name],
                )
                (sessions,) = cursor.fetchone()
            if not sessions:
                return
            if time.monotonic() > deadline:
                raise WorkerError(
                    f"{sessions} PostgreSQL sessions of {self.name} still open"
                )
            time.sleep(0.05)


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass


@contextmanager
def celery_worker(
    *,
    broker_url: str,
    concurrency: int = 2,
    beat: bool = False,
    extra_env: dict[str, str] | None = None,
    queues: Sequence[str] = (),
    pool: str = "prefork",
) -> Iterator[Worker]:
    """A started worker, stopped (and its database sessions gone) afterwards."""
    worker = Worker(
        broker_url=broker_url,
        concurrency=concurrency,
        beat=beat,
        extra_env=extra_env,
        queues=queues,
        pool=pool,
    )
    try:
        worker.start()
        yield worker
    finally:
        worker.stop()
