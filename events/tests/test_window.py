"""Subscriptions with ``concurrency`` > 1: outside calls of one partition in flight at
once, one key at a time (events.window). Drains are called directly; the calls block on
barriers and events, so "at once" is proven by the calls meeting, never by timing.

Runs on SQLite and, in the PostgreSQL pass, on PostgreSQL."""

import threading
from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction

import pytest

from events.delivery import doorbell
from events.delivery.drain import drain
from events.delivery.retries import Backoff
from events.log.outbox import publish
from events.models import Checkpoint, DeadLetter, InboxEntry, LogEntry

from .support.messages import DoThing, ThingHappened
from .support.windows import (
    MEET,
    first_call_waits_for_the_second,
    keys_in_one_partition,
)

pytestmark = pytest.mark.django_db(transaction=True)
NO_WAIT = Backoff(base=timedelta(0), cap=timedelta(0))


def emit(*messages):
    with transaction.atomic():
        return publish(*messages)


def position(name, partition):
    return Checkpoint.objects.get(subscription=name, partition=partition).position


def head(partition):
    return LogEntry.objects.filter(partition=partition).latest("offset").offset


def test_calls_for_different_keys_of_one_partition_are_in_flight_together(subscribe):
    # given four commands for four keys of one partition, whose calls only return once
    # all four are in flight
    partition, keys = keys_in_one_partition(4)
    sub = subscribe("w", topics=("t.things",), concurrency=4)
    meet = threading.Barrier(4, timeout=MEET)
    calls = []

    @sub.handles(DoThing, outside=True)
    def call(command, ctx):
        calls.append((command.thing_id, connection.in_atomic_block))
        meet.wait()
        ctx.publish(ThingHappened(thing_id=command.thing_id, n=1))

    emit(*(DoThing(thing_id=key) for key in keys))
    # when
    result = drain(sub, partition)
    # then all four met (else the barrier broke and each call failed), outside any
    # transaction, and each answer was recorded once with the checkpoint at the head
    assert result.handled == 4 and result.failures == 0
    assert sorted(key for key, _ in calls) == sorted(keys)
    assert not any(in_atomic for _, in_atomic in calls)
    assert LogEntry.objects.filter(type="t.ThingHappened").count() == 4
    # (the answers share the commands' topic and keys: read too, with no handler here)
    assert position("w", partition) == head(partition)


def test_one_keys_calls_run_one_at_a_time_in_order(subscribe):
    # given three commands for one key and one for another, two slots
    partition, (a, b) = keys_in_one_partition(2)
    sub = subscribe("w", topics=("t.things",), concurrency=2)
    in_flight: dict[str, int] = {a: 0, b: 0}
    overlap, order = [], []
    lock = threading.Lock()

    @sub.handles(DoThing, outside=True)
    def call(command, ctx):
        with lock:
            in_flight[command.thing_id] += 1
            overlap.append(in_flight[command.thing_id])
            order.append((command.thing_id, ctx.envelope.offset))
        threading.Event().wait(0.02)  # give a wrongly started twin the time to enter
        with lock:
            in_flight[command.thing_id] -= 1

    emit(*(DoThing(thing_id=k) for k in (a, a, b, a)))
    # when
    drain(sub, partition)
    # then no key ever had two calls at once, and each key's calls kept offset order
    assert max(overlap) == 1
    offsets_of_a = [offset for key, offset in order if key == a]
    assert len(offsets_of_a) == 3 and offsets_of_a == sorted(offsets_of_a)


def test_a_failed_call_holds_its_key_and_later_messages_are_not_called_twice(
    subscribe,
):
    # given a first command that fails once while a later one, of another key, succeeds
    partition, (a, b) = keys_in_one_partition(2)
    sub = subscribe("w", topics=("t.things",), concurrency=2, backoff=NO_WAIT)
    calls = []
    failures = {a: 1}
    b_done = threading.Event()

    @sub.handles(DoThing, outside=True)
    def call(command, ctx):
        calls.append(command.thing_id)
        if command.thing_id == b:
            b_done.set()
        elif failures.get(command.thing_id):
            b_done.wait(MEET)  # fail only once the later call has finished
            failures[command.thing_id] -= 1
            raise TimeoutError("provider timed out")
        ctx.publish(ThingHappened(thing_id=command.thing_id, n=len(calls)))

    first, second, third = emit(
        DoThing(thing_id=a), DoThing(thing_id=b), DoThing(thing_id=a)
    )
    # when the first drain meets the failure
    result = drain(sub, partition)
    # then the later call's outcome is recorded (inbox row, answer) but the checkpoint
    # stays before the failed message, and its key's next message was not called
    assert result.failures == 1 and sorted(calls) == sorted([a, b])
    assert InboxEntry.objects.filter(subscription="w").count() == 1
    assert position("w", partition) == first.offset - 1
    checkpoint = Checkpoint.objects.get(subscription="w", partition=partition)
    assert checkpoint.failing_offset == first.offset and checkpoint.attempts == 1
    # when retried
    drain(sub, partition)
    # then the failed one and its key's next ran once each; the finished one did not
    # run again; every answer is in the log once; the checkpoint passed them all
    assert sorted(calls) == sorted([a, b, a, a])
    assert calls.count(b) == 1
    assert LogEntry.objects.filter(type="t.ThingHappened").count() == 3
    assert position("w", partition) >= third.offset
    assert not DeadLetter.objects.exists()


def test_a_call_failing_for_good_is_parked_and_the_partition_moves_on(subscribe):
    partition, (a, b) = keys_in_one_partition(2)
    sub = subscribe(
        "w", topics=("t.things",), concurrency=2, max_attempts=2, backoff=NO_WAIT
    )

    @sub.handles(DoThing, outside=True)
    def call(command, ctx):
        if command.thing_id == a:
            raise ValueError("bad request")

    emit(DoThing(thing_id=a), DoThing(thing_id=b), DoThing(thing_id=a))
    # when drained until nothing is pending
    for _ in range(5):
        drain(sub, partition)
    # then both of a's commands are parked, b's is handled, the checkpoint at the head
    assert DeadLetter.objects.filter(subscription="w").count() == 2
    assert InboxEntry.objects.filter(subscription="w").count() == 1
    assert position("w", partition) == head(partition)


def test_a_window_only_takes_outside_handlers(subscribe):
    sub = subscribe("w", topics=("t.things",), concurrency=2)
    with pytest.raises(ImproperlyConfigured, match="outside=True"):
        sub.on(ThingHappened)(lambda event, ctx: None)


def test_a_message_committed_while_calls_are_in_flight_starts_when_a_drain_knocks(
    subscribe, monkeypatch
):
    # given a window whose first call waits for the second to start, and a dispatcher
    # in this process that knocks, so the window looks at the log by itself only
    # every minute
    monkeypatch.setattr(doorbell, "LOST_KNOCK_SECONDS", 60.0)
    doorbell.knocking(True)
    partition, (first, second) = keys_in_one_partition(2)
    sub = subscribe("w", topics=("t.things",), concurrency=2)
    first_started, second_started = first_call_waits_for_the_second(sub, first)
    emit(DoThing(thing_id=first))
    try:
        running = threading.Thread(target=lambda: drain(sub, partition))
        running.start()
        assert first_started.wait(MEET)
        # when the second command is committed while the first call is in flight, and
        # a drain of the partition finds the window holding it (as a wake-up's would)
        emit(DoThing(thing_id=second))
        busy = drain(sub, partition)
        # then the knock starts the second call at once, and both are recorded
        assert busy.busy
        assert second_started.wait(MEET)
        running.join(MEET)
    finally:
        doorbell.knocking(False)
    assert position("w", partition) == head(partition)
    assert InboxEntry.objects.filter(subscription="w").count() == 2
