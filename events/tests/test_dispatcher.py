"""The in-process dispatcher: woken on commit, swept after a lost wake-up, isolating a
slow subscription, and never turning a committed transaction into an error."""

import threading
from datetime import timedelta

from django.conf import settings
from django.db import connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

import pytest

from events.delivery import doorbell
from events.delivery.checkpoints import Target
from events.delivery.retries import Backoff
from events.delivery.waiting import WaitTimeout, wait_for_messages
from events.dispatch.current import set_dispatcher
from events.dispatch.inprocess import InProcessDispatcher
from events.log import partitions, reader
from events.log.outbox import publish
from events.log.partitions import partition_for
from events.models import Checkpoint, LogEntry
from processes.waiting import wait_until
from tests.effects.models import Effect

from .support.messages import DoThing, OtherHappened, ThingHappened
from .support.windows import first_call_waits_for_the_second, keys_in_one_partition


def emit(*messages):
    with transaction.atomic():
        return publish(*messages)


def record(label):
    def handler(event, ctx):
        Effect.objects.create(
            label=label, key=event.thing_id, message_id=ctx.envelope.message_id
        )

    return handler


def test_committed_messages_are_delivered_by_the_dispatcher(dispatcher, subscribe):
    # given
    sub = subscribe("s", topics=("t.things",))
    sub.on(ThingHappened)(record("s"))
    # when
    items = emit(*(ThingHappened(thing_id=f"k{i}") for i in range(25)))
    # then
    wait_for_messages("s", items, timeout=10)
    assert Effect.objects.filter(label="s").count() == 25


def test_rolled_back_messages_are_never_delivered(dispatcher, subscribe):
    sub = subscribe("s", topics=("t.things",))
    sub.on(ThingHappened)(record("s"))
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        publish(ThingHappened(thing_id="ghost"))
        raise ZeroDivisionError
    (later,) = emit(ThingHappened(thing_id="ghost"))
    wait_for_messages("s", [later])
    assert list(Effect.objects.values_list("key", flat=True)) == ["ghost"]
    assert LogEntry.objects.count() == 1


def test_a_lost_wake_up_is_delivered_by_the_sweep(dispatcher, subscribe, monkeypatch):
    # given wake-ups that get lost
    sub = subscribe("s", topics=("t.things",))
    sub.on(ThingHappened)(record("s"))
    lost: list[Target] = []
    real_wake = dispatcher.wake

    def lossy_wake(targets):
        targets = list(targets)
        if not lost:
            lost.extend(targets)
            return
        real_wake(targets)

    monkeypatch.setattr(dispatcher, "wake", lossy_wake)
    # when
    (item,) = emit(ThingHappened(thing_id="a"))
    # then the sweep (every 0.5 s in tests) delivers it anyway
    wait_for_messages("s", [item], timeout=10)
    assert lost and Effect.objects.count() == 1


def test_a_failing_wake_up_never_fails_the_committed_transaction(transactional_db):
    class BrokenTransport:
        def wake(self, targets):
            raise ConnectionError("broker is down")

    from events.delivery.subscriptions import Subscription, registry

    Subscription("s", topics=("t.things",))
    set_dispatcher(BrokenTransport())
    try:
        emit(ThingHappened(thing_id="a"))  # must not raise
    finally:
        set_dispatcher(None)
        registry.unregister("s")
    assert LogEntry.objects.count() == 1


def test_a_slow_outside_call_does_not_delay_another_subscription(dispatcher, subscribe):
    # given one subscription stuck in a call to an outside service (which holds no
    # transaction: on SQLite a local handler holds the single write lock while it runs)
    slow = subscribe("slow", topics=("t.things",))
    fast = subscribe("fast", topics=("t.things",))
    entered, release = threading.Event(), threading.Event()

    @slow.on(ThingHappened, outside=True)
    def stuck(event, ctx):
        entered.set()
        release.wait(20)

    fast.on(ThingHappened)(record("fast"))
    try:
        # when
        items = emit(*(ThingHappened(thing_id=f"k{i}") for i in range(10)))
        # then the other one is delivered while it is stuck
        assert entered.wait(10)
        wait_for_messages("fast", items, timeout=10)
        assert Effect.objects.filter(label="fast").count() == 10
        with pytest.raises(WaitTimeout):
            wait_for_messages("slow", items, timeout=0.2)
    finally:
        release.set()
    wait_for_messages("slow", items, timeout=10)


def test_a_commit_during_a_window_of_calls_starts_its_call_at_once(
    dispatcher, subscribe, monkeypatch
):
    # given a window of calls whose first call waits for the second to start, in a
    # process whose dispatcher knocks: the window looks at the log by itself only
    # every minute
    monkeypatch.setattr(doorbell, "LOST_KNOCK_SECONDS", 60.0)
    _, (first, second) = keys_in_one_partition(2)
    sub = subscribe("window", topics=("t.things",), concurrency=2)
    first_started, second_started = first_call_waits_for_the_second(sub, first)
    emit(DoThing(thing_id=first))
    assert first_started.wait(10)
    # when the second is committed while the first call is in flight
    (item,) = emit(DoThing(thing_id=second))
    # then the commit's wake-up knocks on the window, which starts it at once
    assert second_started.wait(10)
    wait_for_messages("window", [item], timeout=10)


def test_a_failed_message_is_retried_by_timer_until_it_succeeds(dispatcher, subscribe):
    sub = subscribe(
        "s", topics=("t.things",), backoff=Backoff(base=timedelta(milliseconds=50))
    )
    attempts = []

    @sub.on(ThingHappened)
    def flaky(event, ctx):
        attempts.append(ctx.envelope.offset)
        if len(attempts) < 3:
            raise ConnectionError("database of a partner is down")
        Effect.objects.create(label="s", key=event.thing_id)

    (item,) = emit(ThingHappened(thing_id="a"))
    wait_for_messages("s", [item], timeout=10)
    assert len(attempts) == 3 and Effect.objects.count() == 1


def test_wake_up_reaches_only_subscriptions_reading_the_topic(dispatcher, subscribe):
    sub = subscribe("s", topics=("t.other",))
    sub.on(OtherHappened)(record("s"))
    emit(ThingHappened(thing_id="a"))
    (other,) = emit(OtherHappened(thing_id="a"))
    wait_for_messages("s", [other])
    assert Effect.objects.count() == 1
    assert other.partition == partitions.partition_for("a")


def test_a_stopped_dispatcher_finishes_its_drain_and_starts_no_queued_one(
    transactional_db, subscribe
):
    # given a dispatcher with one thread for the subscription, stuck in a drain of one
    # partition while another partition's drain waits in its queue
    sub = subscribe("s", topics=("t.things",))
    entered, release = threading.Event(), threading.Event()

    @sub.on(ThingHappened, outside=True)
    def stuck(event, ctx):
        entered.set()
        release.wait(20)

    first, second = (
        "k0",
        next(
            f"k{i}"
            for i in range(1, 100)
            if partition_for(f"k{i}") != partition_for("k0")
        ),
    )
    running = InProcessDispatcher(
        threads=1, sweep_seconds=settings.EVENTS_SWEEP_SECONDS
    )
    set_dispatcher(running)
    running.start()
    try:
        emit(ThingHappened(thing_id=first))
        assert entered.wait(10)
        emit(ThingHappened(thing_id=second))
        # when it is stopped while the first drain is in progress
        stopping = threading.Thread(target=running.stop)
        stopping.start()
        for _ in range(500):  # until stop() has begun (its first step sets the flag)
            if running._stop.is_set():
                break
            threading.Event().wait(0.01)
        release.set()
        stopping.join(20)
    finally:
        release.set()
        running.stop()
        set_dispatcher(None)
    # then the drain in progress finished, and the queued one never started
    assert not stopping.is_alive()
    assert reader.heads()[partition_for(first)] == 1
    positions = dict(
        Checkpoint.objects.filter(subscription="s").values_list("partition", "position")
    )
    assert positions[partition_for(first)] == 1
    assert positions.get(partition_for(second), 0) == 0
    assert (
        reader.heads()[partition_for(second)] == 1
    )  # its message waits for the next start


@pytest.mark.postgres
def test_an_idle_lane_gives_its_database_session_back(transactional_db, subscribe):
    # given a dispatcher whose lane threads give their session back after 1 s idle
    sub = subscribe("s", topics=("t.things",))
    lanes: list[tuple[BaseDatabaseWrapper, int]] = []

    @sub.on(ThingHappened)
    def note_session(event, ctx):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            lanes.append((connections["default"], cursor.fetchone()[0]))

    running = InProcessDispatcher(
        threads=1, sweep_seconds=settings.EVENTS_SWEEP_SECONDS, idle_seconds=1.0
    )
    set_dispatcher(running)
    running.start()
    try:
        # when a message is drained by the lane, then nothing more comes
        items = emit(ThingHappened(thing_id="a"))
        wait_for_messages("s", items, timeout=10)
        ((lane, pid),) = lanes
        # then, once the lane has waited idle, its thread holds no session, and the
        # server has ended the one it drained on
        wait_until(lambda: lane.connection is None, "the lane to close its session", 10)
        wait_until(lambda: not _session_alive(pid), "the server to end it", 10)
        # and the next message is drained on a new session
        more = emit(ThingHappened(thing_id="b"))
        wait_for_messages("s", more, timeout=10)
        assert len(lanes) == 2 and lanes[1][1] != pid
    finally:
        running.stop()
        set_dispatcher(None)


def _session_alive(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0] == 1
