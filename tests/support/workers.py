"""Running a real ``celery -A shop worker`` from a test, as production runs it.

The worker (``processes.celery_worker.CeleryWorker``, the helper the benchmarks use
too) runs with the test settings, the pytest-django test database, its own Redis
database as broker (claimed for this run and flushed, so stale tasks from other runs
never reach it) and the Celery dispatcher. It only knows the subscriptions that apps
register in ``ready()`` (``tests.effects.subscriptions``), never those a test declares
in its own process. ``queues`` and ``pool`` choose what it consumes and how (the
Procfile's payments worker: ``queues=("payments",), pool="threads"``).

Teardown stops the worker (SIGTERM, then SIGKILL for the whole process group) and waits
until PostgreSQL has closed its sessions, so pytest-django can drop the test database.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

import kombu.pools
import redis

from processes.brokers import Claim, db_number, with_db
from processes.celery_worker import CeleryWorker, database_url
from processes.waiting import wait_until

# The subscriptions a worker runs: those of the installed apps (set by the root
# conftest before test modules declare their own).
APP_SUBSCRIPTIONS: frozenset[str] = frozenset()
CLAIM_SECONDS = 900


class NoFreeBroker(RuntimeError):
    """Every Redis database of the server is claimed (or is the base one)."""


def _db_count(client: redis.Redis) -> int:
    try:
        return int(client.config_get("databases").get("databases") or 16)
    except redis.RedisError:  # CONFIG may be disabled (managed Redis)
        return 16


@contextmanager
def broker_database(base_url: str | None = None) -> Iterator[str]:
    """Claim a Redis database of its own for this test's broker, empty, and give it
    back flushed (``processes.brokers``: two test runs on one Redis never share, or
    flush, each other's broker)."""
    base_url = base_url or settings.REDIS_URL
    base = redis.Redis.from_url(base_url, socket_timeout=2)
    own = db_number(base_url)
    count = _db_count(base)
    base.close()
    for number in range(1, count):
        if number == own:
            continue
        claim = Claim(base_url, number, owner="tests", seconds=CLAIM_SECONDS)
        if claim.take():
            break
        claim.release()
    else:
        raise NoFreeBroker("no free Redis database to use as a test broker")
    url = with_db(base_url, number)
    broker = redis.Redis.from_url(url, socket_timeout=2)
    broker.flushdb()
    try:
        yield url
    finally:
        broker.flushdb()
        broker.close()
        claim.release()


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
    # The app reads Django's settings under the CELERY_ namespace, and Celery 5.6
    # looks a key up by its prefixed name in every source before the plain one: a
    # change to ``broker_url`` would stay hidden behind settings.CELERY_BROKER_URL.
    app.conf["CELERY_BROKER_URL"] = url


class Worker(CeleryWorker):
    """A worker on the test database and ``broker_url``; use :func:`celery_worker`.
    Its log and beat schedule live in a temporary directory; its output stays
    readable after :meth:`stop`."""

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
        self._tmp = tempfile.TemporaryDirectory(prefix="celery-worker-")
        tmp = Path(self._tmp.name)
        super().__init__(
            name=f"w{uuid.uuid4().hex[:10]}",
            env=extra_env or {},
            log=tmp / "worker.log",
            concurrency=concurrency,
            pool=pool,
            queues=queues,
            beat_schedule=tmp / "beat-schedule" if beat else None,
        )
        self.broker_url = broker_url
        self._final_output: str | None = None

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "shop.settings.test",
            "DATABASE_URL": database_url(
                connection.settings_dict, application_name=self.name
            ),
            "REDIS_URL": self.broker_url,
            "EVENTS_DISPATCHER": "celery",
            # the test's choice (a test may override it), so both sides agree
            "EVENTS_WAKE": settings.EVENTS_WAKE,
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "INFO",
            **self.env,
        }

    @property
    def output(self) -> str:
        if self._final_output is not None:
            return self._final_output
        return super().output

    def start(self, *, timeout: float = 30.0) -> None:
        """Start it and wait until it is ready."""
        super().start()
        self.wait_ready(timeout=timeout)

    def stop(self, *, grace: float = 10.0) -> None:
        """Warm shutdown, then SIGKILL what is left; return once PostgreSQL has
        ended the worker's sessions."""
        if self.process is None:
            return
        super().stop(grace=grace)
        self.wait_for_disconnect()
        if self._final_output is None:
            self._final_output = super().output
            self._tmp.cleanup()

    def wait_for_disconnect(self, *, timeout: float = 10.0) -> None:
        """Wait until no PostgreSQL session of this worker is left: a killed client's
        backend exits when it reads EOF, which takes a moment."""
        if connection.vendor != "postgresql":
            return

        def disconnected() -> bool:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                    [self.name],
                )
                (sessions,) = cursor.fetchone()
            return not sessions

        wait_until(
            disconnected,
            f"the PostgreSQL sessions of worker {self.name} to end",
            timeout=timeout,
        )


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
