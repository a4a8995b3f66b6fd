"""Delivery by a real ``celery -A shop worker`` process, against Redis and PostgreSQL,
woken through the broker (``EVENTS_WAKE = "broker"``: a Redis flag and a drain task per
commit). The notification wake-up has its own tests (``test_worker_notify.py``).

What the in-process tests cannot show: the Celery task wiring (wake-up on commit,
``acks_late`` and ``reject_on_worker_lost``, retries scheduled with an ``eta``, the
sweep), and what a SIGKILLed worker leaves behind (its rolled-back batch, its unacked
task, its advisory lock). The worker runs the subscriptions of
``tests.effects.subscriptions`` (topic ``w.jobs``); handlers are steered by the payload.

Every wait is on checkpoints (``events.waiting``) or on a line of the worker's log,
with a timeout; nothing sleeps for a result. Each test has its own worker(s) and its
own Redis database as broker, stopped and flushed before the test database is.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from typing import Any

from django.db import transaction

import pytest
import redis

from events.delivery.waiting import WaitTimeout, wait_for_messages, wait_for_position
from events.dispatch.celery import CeleryDispatcher, clear_flag
from events.dispatch.current import set_dispatcher
from events.log import partitions, reader
from events.log.outbox import publish
from events.log.pending import PendingMessage
from events.models import Checkpoint, DeadLetter, InboxEntry
from events.tasks import sweep
from tests.effects.contracts import RunJob
from tests.effects.models import Effect
from tests.effects.subscriptions import RUNNER
from tests.support.workers import Worker, celery_broker, celery_worker

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

CLOSED_PORT = "redis://127.0.0.1:1/0"  # nothing listens there: connect is refused
DELIVERY_TIMEOUT = 20.0


@pytest.fixture(autouse=True)
def broker_wake(settings: Any) -> None:
    """These tests are of the broker's wake-ups (the worker follows the setting)."""
    settings.EVENTS_WAKE = "broker"


class Silent:
    """A dispatcher whose wake-ups are lost (a crash between commit and wake-up)."""

    def wake(self, targets: Iterable[tuple[str, int]]) -> None:
        pass


@pytest.fixture
def start_worker(broker: str) -> Iterator[Callable[..., Worker]]:
    """Start workers on the test's broker; all are stopped (and their database sessions
    gone) before the broker is flushed and the test database emptied."""
    started: list[Worker] = []
    with ExitStack() as workers:

        def start(**options: Any) -> Worker:
            worker = workers.enter_context(celery_worker(broker_url=broker, **options))
            started.append(worker)
            return worker

        yield start
    for worker in started:  # shown by pytest when the test fails
        print(f"--- output of worker {worker.name} (tail) ---\n{worker.output[-5000:]}")


def publish_jobs(*jobs: RunJob) -> list[PendingMessage]:
    with transaction.atomic():
        return publish(*jobs)


def effects_per_message() -> Counter:
    return Counter(
        Effect.objects.filter(label=RUNNER).values_list("message_id", flat=True)
    )


def assert_each_handled_once(items: Iterable[PendingMessage]) -> None:
    expected = {item.message_id for item in items}
    counts = effects_per_message()
    doubled = {m: n for m, n in counts.items() if n > 1}
    assert not doubled, f"messages with more than one effect: {doubled}"
    assert expected - set(counts) == set(), "messages lost"
    assert set(counts) - expected == set(), "effects of messages never published"


def handling_lines(worker: Worker, partition: int) -> list[tuple[int, int]]:
    """(offset, pid) of every message the slow handler started in ``worker``."""
    pattern = re.compile(rf"w\.runner handling p{partition}@(\d+) in pid (\d+)")
    return [
        (int(m[1]), int(m[2])) for m in pattern.finditer(worker.output) if m is not None
    ]


def test_committed_messages_are_delivered_by_the_worker_exactly_once(start_worker):
    # given a running worker
    start_worker()
    # when messages commit (and a transaction that published rolls back)
    with pytest.raises(RuntimeError, match="changed my mind"), transaction.atomic():
        publish(RunJob(key="rolled-back", n=-1))
        raise RuntimeError("changed my mind")
    items = publish_jobs(*(RunJob(key=f"k{i % 10}", n=i) for i in range(60)))
    # then the worker, woken on commit, handles each committed one once, in key order
    wait_for_messages(RUNNER, items, timeout=DELIVERY_TIMEOUT)
    assert_each_handled_once(items)
    for key in {f"k{i}" for i in range(10)}:
        values = Effect.objects.filter(key=key).order_by("id").values_list("value")
        assert [v for (v,) in values] == sorted(v for (v,) in values)
    assert not Effect.objects.filter(key="rolled-back").exists()


def test_worker_killed_mid_batch_loses_nothing_and_doubles_nothing(
    broker, start_worker
):
    # given 120 slow messages in one partition (batches of 50, ~0.5 s each)
    first = start_worker()
    items = publish_jobs(*(RunJob(key="slow", n=i, sleep_ms=10) for i in range(120)))
    partition = items[0].partition
    # when the worker (main process and pool) is SIGKILLed once a batch has committed
    # and the next one is in flight
    wait_for_position(RUNNER, partition, 1, timeout=DELIVERY_TIMEOUT)
    committed = Checkpoint.objects.get(subscription=RUNNER, partition=partition)
    first.wait_for_log(rf"handling p{partition}@{committed.position + 1} ")
    first.kill()
    # then its batch in flight rolled back: the checkpoint is mid-way, behind what the
    # handler had started
    position = Checkpoint.objects.get(subscription=RUNNER, partition=partition).position
    started = max(offset for offset, _ in handling_lines(first, partition))
    assert 0 < position < started <= items[-1].offset, (position, started)  # type: ignore[operator]  # offset: set by publish
    assert effects_per_message().total() == position
    # and its drain task stays unacked in Redis until the visibility timeout (an hour):
    # no worker will get it back before then
    assert redis.Redis.from_url(broker).hlen("unacked") == 1
    # when a new worker starts and a sweep is sent to it (the wake-up beat would send
    # in production); the killed worker's advisory lock died with its connection
    start_worker()
    sweep.delay()
    # then every message is handled exactly once
    wait_for_messages(RUNNER, items, timeout=DELIVERY_TIMEOUT)
    assert_each_handled_once(items)


def test_pool_process_killed_mid_batch_is_requeued_by_the_worker(start_worker):
    # given 120 slow messages in one partition, a batch of them in flight
    worker = start_worker()
    items = publish_jobs(*(RunJob(key="slow", n=i, sleep_ms=10) for i in range(120)))
    partition = items[0].partition
    wait_for_position(RUNNER, partition, 1, timeout=DELIVERY_TIMEOUT)
    committed = Checkpoint.objects.get(subscription=RUNNER, partition=partition)
    line = worker.wait_for_log(rf"handling p{partition}@{committed.position + 1} ")
    # the line waited for is the drain's "handling ... in pid N": the search finds N
    pool_pid = int(re.search(r"in pid (\d+)", line.string)[1])  # type: ignore[index]
    # when only the pool process running the drain is SIGKILLed (say, by the OOM
    # killer)
    os.kill(pool_pid, signal.SIGKILL)
    # then the worker re-queues the task (acks_late + reject_on_worker_lost) and a new
    # pool process finishes the partition, with no sweep and no new message
    worker.wait_for_log(r"WorkerLostError|exited with 'signal 9")
    wait_for_messages(RUNNER, items, timeout=DELIVERY_TIMEOUT)
    assert_each_handled_once(items)
    pids = {pid for _, pid in handling_lines(worker, partition)}
    assert pool_pid in pids and len(pids) >= 2


def test_lost_wake_up_is_delivered_by_the_sweep(start_worker):
    # given a running worker, and a wake-up that is lost after commit
    start_worker()
    set_dispatcher(Silent())
    items = publish_jobs(*(RunJob(key=f"lost{i}", n=i) for i in range(5)))
    # then nothing is delivered (no beat runs here)...
    with pytest.raises(WaitTimeout):
        wait_for_messages(RUNNER, items, timeout=1.0)
    # ...until a sweep, sent to the worker, finds the partitions behind their heads
    sweep.delay()
    wait_for_messages(RUNNER, items, timeout=DELIVERY_TIMEOUT)
    assert_each_handled_once(items)


def test_unreachable_broker_never_fails_a_commit_and_beat_sweeps_it(
    start_worker, caplog
):
    # given a worker with beat (sweeping every EVENTS_SWEEP_SECONDS = 0.5 s), and a
    # broker this process cannot reach (connect is refused at once)
    start_worker(beat=True)
    with celery_broker(CLOSED_PORT), caplog.at_level(logging.WARNING):
        # when a transaction publishes, then it commits without raising
        began = time.monotonic()
        items = publish_jobs(RunJob(key="offline", n=1), RunJob(key="offline", n=2))
        took = time.monotonic() - began
    assert reader.head(items[-1].partition) >= items[-1].offset  # type: ignore[operator]  # offset: set by publish
    assert "broker unavailable; the sweep will deliver" in caplog.text
    # and beat's sweep delivers the messages, once each
    wait_for_messages(RUNNER, items, timeout=DELIVERY_TIMEOUT)
    assert_each_handled_once(items)
    # and the failed wake-up cost the commit one refused connect, not kombu's connect
    # retry loop (which alone lasts broker_connection_timeout = 4 s: this detects the
    # loop, it does not measure speed; a refused connect takes milliseconds)
    assert took < 4, f"a commit waited {took:.1f}s: the publish retried the broker"


def test_poison_message_is_parked_after_its_attempts_while_others_flow(start_worker):
    # given a message that always fails, one that fails once, and healthy ones on its
    # partition and on others
    worker = start_worker()
    (poison,) = publish_jobs(RunJob(key="poison", n=0, fail_times=-1))
    others = publish_jobs(
        RunJob(key="flaky", n=0, fail_times=1),
        *(RunJob(key=f"ok{i}", n=i) for i in range(20)),
        *(RunJob(key="poison", n=i) for i in range(1, 4)),
    )
    # when the worker has handled or parked every one of them
    wait_for_messages(RUNNER, [poison, *others], timeout=DELIVERY_TIMEOUT)
    # then the poison message is parked after max_attempts (3), with no effect...
    letter = DeadLetter.objects.get()
    assert (letter.message_id, letter.attempts, letter.status) == (
        poison.message_id,
        3,
        "parked",
    )
    assert "JobFailed: job poison/0 fails (attempt 3)" in letter.error
    # ...every other message is handled once (the flaky one on its retry)...
    assert_each_handled_once(others)
    assert "job flaky/0 fails (attempt 1)" in worker.output
    assert "job flaky/0 fails (attempt 2)" not in worker.output
    # ...the poison's partition moved on after it was parked, in key order...
    after = InboxEntry.objects.filter(
        subscription=RUNNER, partition=poison.partition, offset__gt=poison.offset
    )
    assert after.count() >= 3
    assert all(entry.handled_at >= letter.parked_at for entry in after)
    # ...and the other partitions flowed while it was being retried
    elsewhere = InboxEntry.objects.filter(subscription=RUNNER).exclude(
        partition__in={poison.partition, partitions.partition_for("flaky")}
    )
    assert elsewhere.exists()
    assert all(entry.handled_at < letter.parked_at for entry in elsewhere)


def test_wake_ups_are_coalesced_while_a_drain_task_is_queued(broker):
    # given no worker: tasks stay in the broker's queue
    queue = redis.Redis.from_url(broker)
    dispatcher = CeleryDispatcher()
    # when one partition is woken five times
    for _ in range(5):
        dispatcher.wake([(RUNNER, 1)])
    # then one task waits for it
    assert queue.llen("celery") == 1
    # and once that task has started (it clears the flag), the next commit sends one
    clear_flag(RUNNER, 1)
    dispatcher.wake([(RUNNER, 1), (RUNNER, 2)])
    assert queue.llen("celery") == 3
