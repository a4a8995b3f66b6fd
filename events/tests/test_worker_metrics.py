"""The delivery counters of real ``celery -A shop worker`` processes, scraped over
HTTP from each worker's own metrics server (``events.dispatch.worker_metrics``), as
Prometheus scrapes a deployment of several worker machines: each worker program sums
its pool children (prometheus-client's multiprocess mode, a directory per worker),
and the sum over the workers' scrapes is every message handled once.

On PostgreSQL and Redis: the workers are woken by NOTIFY (``EVENTS_WAKE=notify``)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from django.db import connection, transaction

import pytest

from events.delivery.waiting import wait_for_messages
from events.log.outbox import publish
from tests.effects.contracts import RunJob
from tests.effects.subscriptions import RUNNER
from tests.support.scrapes import Exposition, scrape
from tests.support.servers import free_port
from tests.support.workers import Worker, celery_worker

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]
TIMEOUT = 30.0
TOKEN = "t" * 40
HANDLED = "events_messages_handled_total"


def metrics_url(worker: Worker) -> str:
    """Where the worker serves its metrics (the port it was started with)."""
    return f"http://127.0.0.1:{worker.env['EVENTS_WORKER_METRICS_PORT']}/metrics"


@pytest.fixture(autouse=True)
def notify_wake(settings: Any) -> None:
    settings.EVENTS_WAKE = "notify"


@pytest.fixture
def start_worker(broker: str, tmp_path: Path) -> Iterator[Callable[[], Worker]]:
    """Start a worker serving its metrics on a port of its own, counting in a
    directory of its own, with no sweep (only commits wake it)."""
    started: list[Worker] = []
    with ExitStack() as stack:

        def start() -> Worker:
            port = free_port()
            worker = stack.enter_context(
                celery_worker(
                    broker_url=broker,
                    concurrency=2,
                    extra_env={
                        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / f"w{port}"),
                        "EVENTS_WORKER_METRICS_PORT": str(port),
                        "EVENTS_METRICS_TOKEN": TOKEN,
                        "EVENTS_SWEEP_SECONDS": "3600",
                    },
                )
            )
            worker.wait_for_log(rf"serving metrics on port {port}")
            worker.wait_for_log(r"draining .*w\.runner.* on notifications")
            started.append(worker)
            return worker

        yield start
    for worker in started:
        print(f"--- output of worker {worker.name} (tail) ---\n{worker.output[-5000:]}")


def publish_jobs(*jobs: RunJob) -> list:
    with transaction.atomic():
        return publish(*jobs)


def scrape_worker(worker: Worker) -> Exposition:
    return scrape(metrics_url(worker), token=TOKEN)


def wait_for_total(
    workers: list[Worker], name: str, total: float, **labels: str
) -> list[Exposition]:
    """Scrape until the sum over the workers of ``name`` reaches ``total`` (a count
    lands just after its commit, which the checkpoint shows first)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        scraped = [scrape_worker(w) for w in workers]
        if sum(s.value(name, **labels) for s in scraped) >= total:
            return scraped
        if time.monotonic() > deadline:
            pytest.fail(f"{name} never summed to {total}: {[s.text for s in scraped]}")
        time.sleep(0.1)


def holds_no_drain_lock(worker: Worker) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND a.application_name = %s",
            [worker.name],
        )
        (locks,) = cursor.fetchone()
    return locks == 0


@contextmanager
def stopped(worker: Worker) -> Iterator[None]:
    """The worker and its pool frozen (SIGSTOP), between drains: it drains nothing
    and holds no partition; thawed (SIGCONT) afterwards."""
    deadline = time.monotonic() + TIMEOUT
    while not holds_no_drain_lock(worker):
        if time.monotonic() > deadline:
            pytest.fail(f"{worker.name} kept a drain lock")
        time.sleep(0.05)
    os.killpg(worker.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(worker.pid, signal.SIGCONT)


def test_two_workers_counts_add_up_to_each_message_once_in_their_scrapes(
    start_worker,
):
    # given a worker that handled thirty jobs
    first = start_worker()
    one = publish_jobs(*(RunJob(key=f"a{i % 8}", n=i) for i in range(30)))
    wait_for_messages(RUNNER, one, timeout=TIMEOUT)
    # when a second worker handles thirty more and a poison job, the first frozen
    second = start_worker()
    with stopped(first):
        two = publish_jobs(
            *(RunJob(key=f"b{i % 8}", n=i) for i in range(30)),
            RunJob(key="poison", fail_times=-1),
        )
        wait_for_messages(RUNNER, two, timeout=TIMEOUT)
    # then each worker's scrape has its own share, and their sum every message once
    runner = {"subscription": RUNNER}
    scraped = wait_for_total([first, second], HANDLED, 60, **runner)
    scraped = wait_for_total(
        [first, second], "events_messages_dead_lettered_total", 1, **runner
    )
    mine, theirs = scraped
    assert (mine.value(HANDLED, **runner), theirs.value(HANDLED, **runner)) == (30, 30)
    assert theirs.value("events_messages_failed_total", **runner) == 3
    assert theirs.value("events_messages_retried_total", **runner) == 2
    assert theirs.value("events_messages_dead_lettered_total", **runner) == 1
    latency = "events_handled_latency_seconds_count"
    assert sum(s.value(latency, **runner) for s in scraped) == 60
    duration = "events_handler_duration_seconds_count"
    assert sum(s.value(duration, **runner) for s in scraped) >= 63
    print("\n".join(theirs.lines("events_messages_", latency, duration)))


def test_a_worker_scrape_needs_the_token(start_worker):
    worker = start_worker()
    with pytest.raises(Exception, match="401"):
        scrape(metrics_url(worker), token="wrong")
