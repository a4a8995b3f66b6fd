"""Delivery by real ``celery -A shop worker`` processes woken by PostgreSQL NOTIFY
(``EVENTS_WAKE = "notify"``, the default): each worker drains on threads of its own
(``events.dispatch.worker``), woken by the notification its commit sends, with no
drain task and no Redis flag. And what a notification lost, or a worker killed, leaves
behind: nothing that the listener's catch-up does not deliver."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from typing import Any

from django.db import connection, transaction

import pytest

from events.delivery.checkpoints import Target
from events.delivery.waiting import wait_for_messages, wait_for_position
from events.dispatch.celery import CeleryDispatcher
from events.dispatch.current import set_dispatcher
from events.log.outbox import publish
from events.log.pending import PendingMessage
from events.log.writer import notify_channel
from events.models import Checkpoint
from tests.effects.contracts import RunJob
from tests.effects.models import Effect
from tests.effects.subscriptions import RUNNER
from tests.support.workers import Worker, celery_worker

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]
DELIVERY_TIMEOUT = 20.0


@pytest.fixture(autouse=True)
def notify_wake(settings: Any) -> None:
    settings.EVENTS_WAKE = "notify"


@pytest.fixture
def start_worker(broker: str) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []
    with ExitStack() as workers:

        def start(**options: Any) -> Worker:
            worker = workers.enter_context(celery_worker(broker_url=broker, **options))
            worker.wait_for_log(r"draining .*w\.runner.* on notifications")
            started.append(worker)
            return worker

        yield start
    for worker in started:
        print(f"--- output of worker {worker.name} (tail) ---\n{worker.output[-5000:]}")


class NoWakeUps:
    """A dispatcher that wakes nobody: commits that ring no bell."""

    def wake(self, targets: Iterable[Target]) -> None:
        return None


def publish_jobs(*jobs: RunJob) -> list[PendingMessage]:
    with transaction.atomic():
        return publish(*jobs)


def assert_each_handled_once(items: list[PendingMessage]) -> None:
    counts = Counter(
        Effect.objects.filter(label=RUNNER).values_list("message_id", flat=True)
    )
    assert {m: n for m, n in counts.items() if n > 1} == {}
    assert set(counts) == {item.message_id for item in items}


def test_a_commit_wakes_the_worker_through_postgresql_with_no_drain_task(
    start_worker,
):
    # given a worker listening
    worker = start_worker(extra_env={"EVENTS_SWEEP_SECONDS": "3600"})
    # when messages commit (one transaction rolled back)
    with pytest.raises(RuntimeError), transaction.atomic():
        publish(RunJob(key="rolled-back", n=-1))
        raise RuntimeError("changed my mind")
    items = publish_jobs(*(RunJob(key=f"k{i % 10}", n=i) for i in range(60)))
    # then each committed one is handled once, in key order...
    wait_for_messages(RUNNER, items, timeout=DELIVERY_TIMEOUT)
    assert_each_handled_once(items)
    for key in {f"k{i}" for i in range(10)}:
        values = [v for (v,) in Effect.objects.filter(key=key).values_list("value")]
        assert values == sorted(values)
    # ...by the worker's own lanes: no drain task went through the broker
    assert "Task events.drain[" not in worker.output


def test_a_worker_killed_mid_batch_is_caught_up_by_the_next_one_without_a_sweep(
    start_worker,
):
    # given 120 slow messages in one partition, a batch in flight
    first = start_worker()
    items = publish_jobs(*(RunJob(key="slow", n=i, sleep_ms=10) for i in range(120)))
    partition = items[0].partition
    wait_for_position(RUNNER, partition, 1, timeout=DELIVERY_TIMEOUT)
    committed = Checkpoint.objects.get(subscription=RUNNER, partition=partition)
    first.wait_for_log(rf"handling p{partition}@{committed.position + 1} ")
    # when the worker is SIGKILLed (its advisory lock dies with its connection)
    first.kill()
    # then a new worker, which heard no notification for them, catches up as it
    # starts listening: everything handled once, no sweep sent
    start_worker()
    wait_for_messages(RUNNER, items, timeout=DELIVERY_TIMEOUT)
    assert_each_handled_once(items)


def test_a_listener_whose_connection_dies_reconnects_and_catches_up(start_worker):
    # given a listening worker
    worker = start_worker()
    # when its listening session is terminated by the server
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE query LIKE 'LISTEN %%' AND pid <> pg_backend_pid()"
        )
        assert cursor.rowcount >= 1
    # and messages commit while it is gone
    items = publish_jobs(*(RunJob(key=f"gone{i}", n=i) for i in range(10)))
    # then it reconnects, and what it missed is delivered
    worker.wait_for_log(r"listener lost its connection; reconnecting")
    wait_for_messages(RUNNER, items, timeout=DELIVERY_TIMEOUT)
    assert_each_handled_once(items)


def test_a_worker_whose_every_session_dies_listens_and_delivers_again(start_worker):
    # given a listening worker that has delivered (its threads hold sessions), whose
    # own sweep would not come for an hour
    worker = start_worker(extra_env={"EVENTS_SWEEP_SECONDS": "3600"})
    first = publish_jobs(RunJob(key="before", n=0))
    wait_for_messages(RUNNER, first, timeout=DELIVERY_TIMEOUT)
    # when the server ends every session of the worker, as a restart does
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s",
            [worker.name],
        )
        assert cursor.rowcount >= 2
    worker.wait_for_log(r"listener lost its connection; reconnecting")
    # then what commits afterwards is delivered on its notification
    items = publish_jobs(*(RunJob(key=f"after{i}", n=i) for i in range(10)))
    wait_for_messages(RUNNER, items, timeout=DELIVERY_TIMEOUT)
    assert_each_handled_once(first + items)


def test_an_explicit_wake_rings_the_workers_as_a_commit_does(start_worker, settings):
    # given a worker listening, whose own sweep would not come for an hour
    worker = start_worker(extra_env={"EVENTS_SWEEP_SECONDS": "3600"})
    first = publish_jobs(RunJob(key="first", n=0))
    wait_for_messages(RUNNER, first, timeout=DELIVERY_TIMEOUT)
    # and messages committed without a bell (as staff moving a checkpoint leave them)
    settings.EVENTS_WAKE = "broker"
    set_dispatcher(NoWakeUps())
    try:
        items = publish_jobs(*(RunJob(key=f"quiet{i}", n=i) for i in range(5)))
    finally:
        set_dispatcher(None)
    settings.EVENTS_WAKE = "notify"
    # when this process wakes the subscription (what replay, resume and repartition do)
    CeleryDispatcher().wake({(RUNNER, item.partition) for item in items})
    # then the worker drains them: the wake rang its listener, no drain task was sent
    wait_for_messages(RUNNER, items, timeout=DELIVERY_TIMEOUT)
    assert_each_handled_once(first + items)
    assert "Task events.drain[" not in worker.output


def test_a_commit_rings_each_channel_once(settings):
    # given a session listening on the runner's topic
    raw = connection.get_new_connection(connection.get_connection_params())
    raw.autocommit = True
    set_dispatcher(CeleryDispatcher())
    try:
        raw.execute(f'LISTEN "{notify_channel("w.jobs")}"')
        # when one transaction writes to one partition of it
        items = publish_jobs(RunJob(key="k", n=1), RunJob(key="k", n=2))
        # then one notification names that partition and the type written: the
        # after-commit wake-up does not ring again what the commit's own NOTIFY rang
        heard = [(n.channel, n.payload) for n in raw.notifies(timeout=2, stop_after=5)]
        assert heard == [(notify_channel("w.jobs"), f"{items[0].partition} w.RunJob")]
    finally:
        set_dispatcher(None)
        raw.close()
