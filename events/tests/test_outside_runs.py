"""A run of outside calls in one partition: recorded together every
``RECORD_SECONDS``, at the run's end and before a failed call is counted."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import pytest

from events.delivery import drain as draining
from events.delivery.drain import drain
from events.delivery.retries import Backoff
from events.log import reader
from events.log.outbox import publish
from events.models import Checkpoint, InboxEntry, LogEntry

from .support.messages import OtherHappened, ThingHappened

pytestmark = pytest.mark.django_db(transaction=True)
LATER = Backoff(base=timedelta(hours=1), cap=timedelta(hours=1))


class Crash(BaseException):
    """The process dies in the middle of a call (no handler failure is recorded)."""


def emit_run(count: int) -> list:
    """``count`` messages of one key: one partition, in order."""
    with transaction.atomic():
        return publish(*(ThingHappened(thing_id="k", n=n) for n in range(count)))


def caller(subscribe, fail_at=None, crash_at=None):
    """An outside subscription whose call publishes a reply; it fails once at
    ``fail_at`` and crashes once at ``crash_at``; ``calls`` holds (n, key) in order."""
    sub = subscribe("s", topics=("t.things",), backoff=LATER)
    calls: list[tuple[int, str]] = []
    surprises = {"fail": fail_at, "crash": crash_at}

    @sub.on(ThingHappened, outside=True)
    def call(event, ctx):
        assert not connection.in_atomic_block
        calls.append((event.n, ctx.idempotency_key))
        if event.n == surprises["crash"]:
            surprises["crash"] = None
            raise Crash()
        if event.n == surprises["fail"]:
            surprises["fail"] = None
            raise TimeoutError("the other service timed out")
        ctx.publish(OtherHappened(thing_id=f"reply-{event.n}"))

    return sub, calls


def checkpoint(partition: int) -> Checkpoint:
    return Checkpoint.objects.get(subscription="s", partition=partition)


def records(queries) -> int:
    """Transactions that recorded calls: each claims its messages in one INSERT."""
    return sum(q["sql"].startswith("INSERT INTO events_inbox") for q in queries)


def test_a_run_of_quick_calls_is_recorded_in_one_transaction(subscribe):
    # given ten messages of one key for an outside handler that answers at once
    sub, calls = caller(subscribe)
    items = emit_run(10)
    partition = items[0].partition
    # when the partition is drained
    with CaptureQueriesContext(connection) as queries:
        result = drain(sub, partition)
    # then each was called once, in order, and one transaction recorded them all:
    # their inbox rows, their replies (each naming its cause) and the checkpoint
    assert [n for n, _ in calls] == list(range(10))
    assert result.handled == 10 and records(queries) == 1
    assert InboxEntry.objects.filter(subscription="s").count() == 10
    replies = LogEntry.objects.filter(type="t.OtherHappened")
    assert {r.causation_id for r in replies} == {i.message_id for i in items}
    assert checkpoint(partition).position == reader.head(partition)


def test_calls_that_take_longer_than_the_interval_are_recorded_one_by_one(
    subscribe, monkeypatch
):
    # given an interval every call outlasts
    monkeypatch.setattr(draining, "RECORD_SECONDS", 0.0)
    sub, calls = caller(subscribe)
    items = emit_run(4)
    # when the partition is drained
    with CaptureQueriesContext(connection) as queries:
        result = drain(sub, items[0].partition)
    # then each call was recorded in its own transaction
    assert result.handled == 4 and records(queries) == 4
    assert LogEntry.objects.filter(type="t.OtherHappened").count() == 4


def test_a_failed_call_is_counted_after_the_calls_before_it_are_recorded(subscribe):
    # given a run whose fourth call fails once
    sub, calls = caller(subscribe, fail_at=3)
    items = emit_run(6)
    partition = items[0].partition
    # when the partition is drained once
    drain(sub, partition)
    # then the three before it are recorded, the failure is counted with the
    # checkpoint just before it, and nothing after it was called
    assert [n for n, _ in calls] == [0, 1, 2, 3]
    assert checkpoint(partition).position == items[2].offset
    assert checkpoint(partition).attempts == 1
    assert InboxEntry.objects.filter(subscription="s").count() == 3
    # and the retry, when due, calls the failed one again, then the rest, each once
    Checkpoint.objects.filter(subscription="s").update(retry_at=timezone.now())
    drain(sub, partition)
    assert [n for n, _ in calls] == [0, 1, 2, 3, 3, 4, 5]
    assert checkpoint(partition).position == reader.head(partition)
    assert LogEntry.objects.filter(type="t.OtherHappened").count() == 6


def test_a_crash_before_the_record_calls_again_with_the_same_keys(subscribe):
    # given a run whose third call never returns: the process dies in it
    sub, calls = caller(subscribe, crash_at=2)
    items = emit_run(4)
    partition = items[0].partition
    with pytest.raises(Crash):
        drain(sub, partition)
    # then nothing of the run was recorded
    assert not InboxEntry.objects.filter(subscription="s").exists()
    assert checkpoint(partition).position < items[0].offset
    # when the partition is drained again, as after a restart
    drain(sub, partition)
    # then the calls before the crash are made again with the keys of the first
    # time (so the other service answers them from its records), and each
    # message's reply is written once
    keys = dict(calls[:2])
    assert [n for n, _ in calls] == [0, 1, 2, 0, 1, 2, 3]
    assert all(keys.get(n, key) == key for n, key in calls)
    assert LogEntry.objects.filter(type="t.OtherHappened").count() == 4
