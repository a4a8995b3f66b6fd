"""Fixtures of the order-flow tests that run real Celery workers
(``tests.support.workers``).

The shop is started as production runs it (``Procfile``): a worker of processes on
Celery's default queue and a worker of threads on the ``payments`` queue, both with
the test settings plus the knobs of ``tests.flows.worker_settings``, against the
pytest-django test database and a Redis database of this test's own as broker. The
test process publishes through the Celery dispatcher, so every commit wakes them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass

from django.conf import settings

import pytest

from tests.support.workers import Worker

WORKER_SETTINGS = "tests.flows.worker_settings"


@dataclass(frozen=True)
class ShopWorkers:
    """One start of the shop's two workers."""

    default: Worker
    payments: Worker

    def kill(self) -> None:
        """SIGKILL both workers with their pools, as a lost machine would."""
        self.payments.kill()
        self.default.kill()


@pytest.fixture
def start_workers(broker: str) -> Iterator[Callable[..., ShopWorkers]]:
    """Start the shop's workers: ``start_workers(latency_ms=300,
    email_url="smtp://127.0.0.1:1", beat=True, env={"LOG_FORMAT": "json"})`` (``env``
    on top of the rest, for both workers); ``extra_env`` adds variables to a worker's
    environment by its role (``{"payments": {...}}``). Every worker started is stopped
    (and its database sessions gone) before the broker is flushed and the test
    database emptied; their output is printed, so pytest shows it when the test
    fails."""
    started: list[Worker] = []
    with ExitStack() as stack:

        def start(
            *,
            latency_ms: int = 0,
            email_url: str = "memorymail://",
            beat: bool = False,
            env: dict[str, str] | None = None,
            extra_env: Mapping[str, Mapping[str, str]] | None = None,
        ) -> ShopWorkers:
            env = {
                "DJANGO_SETTINGS_MODULE": WORKER_SETTINGS,
                "PAYMENT_PROVIDER_LATENCY_MS": str(latency_ms),
                "EMAIL_URL": email_url,
                **(env or {}),
            }
            extra = extra_env or {}
            default = Worker(
                broker_url=broker,
                concurrency=2,
                beat=beat,
                extra_env={**env, **extra.get("default", {})},
            )
            payments = Worker(
                broker_url=broker,
                concurrency=settings.EVENTS_PARTITIONS,  # as the Procfile
                pool="threads",
                queues=("payments",),
                extra_env={**env, **extra.get("payments", {})},
            )
            for worker in (default, payments):
                stack.callback(worker.stop)  # a worker that never started: a no-op
                started.append(worker)
            # Side by side: each start waits for the worker's "ready" line.
            with ThreadPoolExecutor(max_workers=2) as pool:
                for future in [pool.submit(w.start) for w in (default, payments)]:
                    future.result()
            return ShopWorkers(default=default, payments=payments)

        yield start
        for worker in started:  # all shut down at once; the stack then waits for each
            worker.begin_stop()
    for worker in started:
        print(f"--- output of worker {worker.name} (tail) ---\n{worker.output[-8000:]}")
