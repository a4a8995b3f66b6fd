"""Ordering and concurrency on a real PostgreSQL: gap-free offsets in commit order,
exactly-once effects under concurrent writers and drains, the checkpoint's
compare-and-set, and deadlock-free publishing to several partitions.

Every thread that touches the database runs in a :class:`Worker`: its own connection,
a ``lock_timeout`` so a bug shows as an error rather than a hang, and the connection
closed at its end (or the test database's teardown waits for it). Where a test needs
one backend to be waiting for another's lock, it asks the server
(``pg_blocking_pids``) instead of sleeping and hoping.

Two tests pin bugs this suite found and that are fixed: a wake-up landing as a drain
finished was dropped, and an overlapping drain failed on the inbox constraint instead
of re-reading.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import connection, connections, transaction

import pytest

from events.delivery import checkpoints
from events.delivery.checkpoints import CheckpointMoved
from events.delivery.drain import drain
from events.delivery.subscriptions import Context
from events.delivery.waiting import wait_for_messages
from events.log import partitions, reader, writer
from events.log.outbox import publish
from events.log.pending import PendingMessage
from events.log.unit import unit_of_work
from events.models import Checkpoint, LogEntry
from events.ops import replay
from processes.waiting import wait_until
from tests.effects.models import Effect

from .support.messages import ThingHappened

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

P, Q = 0, 1  # two partitions (P < Q), whatever EVENTS_PARTITIONS is (at least 2)


# --- helpers -----------------------------------------------------------------------


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    return pid


class Worker(threading.Thread):
    """A thread with its own database connection; keeps what it returned or raised."""

    def __init__(self, fn: Callable[[], Any], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.fn = fn
        self.pid = 0
        self.connected = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '15s'")
            self.pid = backend_pid()
            self.connected.set()
            self.result = self.fn()
        except BaseException as error:
            self.error = error
        finally:
            self.connected.set()
            connections.close_all()


def start(fn: Callable[[], Any], name: str) -> Worker:
    """Start a worker and return once it has its connection (its ``pid`` is known)."""
    worker = Worker(fn, name)
    worker.start()
    assert worker.connected.wait(10)
    return worker


def finish(*workers: Worker, timeout: float = 20.0) -> None:
    """Join the workers and re-raise the first error one of them had."""
    for worker in workers:
        worker.join(timeout)
    stuck = [worker.name for worker in workers if worker.is_alive()]
    assert not stuck, f"threads still running: {stuck}"
    for worker in workers:
        if worker.error is not None:
            raise worker.error


def wait_until_blocked(pid: int, *, by: int, timeout: float = 10.0) -> None:
    """Return once backend ``pid`` waits for a lock that backend ``by`` holds.

    Polls the server's lock table (there is nothing to be notified by); it waits for a
    condition, not for a result."""

    def blocked() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s = ANY(pg_blocking_pids(%s))", [by, pid])
            return cursor.fetchone()[0]

    wait_until(blocked, f"backend {pid} to wait for {by}", timeout, interval=0.002)


def keys_in(partition: int, count: int, prefix: str = "k") -> list[str]:
    """``count`` distinct keys that hash to ``partition``."""
    assert partition < settings.EVENTS_PARTITIONS
    candidates = (f"{prefix}{i}" for i in itertools.count())
    return list(
        itertools.islice(
            (key for key in candidates if partitions.partition_for(key) == partition),
            count,
        )
    )


def record_effect(event: ThingHappened, ctx: Context) -> None:
    Effect.objects.create(
        label="h", key=event.thing_id, value=event.n, message_id=ctx.envelope.message_id
    )


def effects() -> list[tuple[str, int]]:
    """(key, n) of every effect, in the order they were written."""
    return list(
        Effect.objects.filter(label="h").order_by("id").values_list("key", "value")
    )


def emit(*messages: ThingHappened) -> list[PendingMessage]:
    with transaction.atomic():
        return publish(*messages)


def position(partition: int, subscription: str = "s") -> int:
    return Checkpoint.objects.get(
        subscription=subscription, partition=partition
    ).position


def offsets_in_log(partition: int) -> list[int]:
    return list(
        LogEntry.objects.filter(partition=partition)
        .order_by("offset")
        .values_list("offset", flat=True)
    )


def assert_each_handled_once(messages: list[PendingMessage]) -> None:
    """Every message has exactly one effect, and nothing else has one."""
    counts = Counter(
        Effect.objects.filter(label="h").values_list("message_id", flat=True)
    )
    assert counts == Counter(item.message_id for item in messages)
    assert set(counts.values()) == {1}


def assert_handled_in_offset_order(messages: list[PendingMessage]) -> None:
    """Per partition, effects were written in offset order, with no offset missing."""
    where: dict[UUID | None, tuple[int, int | None]] = {
        item.message_id: (item.partition, item.offset) for item in messages
    }
    seen: dict[int, list[int | None]] = defaultdict(list)
    for message_id in (
        Effect.objects.filter(label="h").order_by("id").values_list("message_id")
    ):
        partition, offset = where[message_id[0]]
        seen[partition].append(offset)
    for partition, offsets in seen.items():
        assert offsets == list(range(1, reader.head(partition) + 1)), partition
        assert offsets_in_log(partition) == offsets, partition


# --- 1. commit order, not start order: a reader never skips a late commit ----------


def test_a_writer_behind_an_open_offset_waits_so_a_draining_reader_skips_nothing(
    subscribe,
):
    # given a subscription, and T1: it publishes to partition P and stays open
    sub = subscribe("s", topics=("t.things",))
    sub.on(ThingHappened)(record_effect)
    first_key, second_key = keys_in(P, 2)
    t1_published, t1_commit = threading.Event(), threading.Event()
    t2_published, t2_commit = threading.Event(), threading.Event()

    def t1() -> PendingMessage:
        with transaction.atomic():
            (item,) = publish(ThingHappened(thing_id=first_key, n=1))
            t1_published.set()
            assert t1_commit.wait(10)
        return item

    def t2() -> PendingMessage:
        with transaction.atomic():
            Effect.objects.create(label="t2 state", key=second_key)
            (item,) = publish(ThingHappened(thing_id=second_key, n=2))
            t2_published.set()
            assert t2_commit.wait(10)
        return item

    writer1 = start(t1, "t1")
    assert t1_published.wait(10)
    # when T2 starts later and publishes to the same partition
    writer2 = start(t2, "t2")
    # then it waits for T1's partition counter, and a reader meanwhile sees neither
    wait_until_blocked(writer2.pid, by=writer1.pid)
    assert reader.head(P) == 0 and not LogEntry.objects.exists()
    assert drain(sub, P).handled == 0
    # when T1 commits, T2 takes the next offset; T2 is still open
    t1_commit.set()
    assert t2_published.wait(10)
    # then a reader sees exactly T1's message
    assert reader.head(P) == 1
    assert drain(sub, P).handled == 1
    # when T2 commits
    t2_commit.set()
    finish(writer1, writer2)
    # then the drain picks up T2's; offsets follow commit order, each handled once
    assert drain(sub, P).handled == 1
    assert (writer1.result.offset, writer2.result.offset) == (1, 2)
    assert effects() == [(first_key, 1), (second_key, 2)]
    assert position(P) == 2 and offsets_in_log(P) == [1, 2]


def test_transactions_committing_opposite_to_their_start_get_commit_order_offsets(
    subscribe,
):
    # given T1: it starts first, changes state, and publishes through a unit of work
    # (written at its end, as in every platform-owned transaction), then stays open
    sub = subscribe("s", topics=("t.things",))
    sub.on(ThingHappened)(record_effect)
    first_key, second_key = keys_in(P, 2)
    t1_open, t1_commit = threading.Event(), threading.Event()
    xids: dict[str, int] = {}

    def current_xid() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT txid_current()")
            (xid,) = cursor.fetchone()
        return xid

    def t1() -> PendingMessage:
        with unit_of_work():
            Effect.objects.create(label="t1 state", key=first_key)
            xids["t1"] = current_xid()
            (item,) = publish(ThingHappened(thing_id=first_key, n=1))
            t1_open.set()
            assert t1_commit.wait(10)
        return item

    writer1 = start(t1, "t1")
    assert t1_open.wait(10)
    # when T2 starts later, publishes to the same partition and commits first
    with transaction.atomic():
        xids["t2"] = current_xid()
        (second,) = publish(ThingHappened(thing_id=second_key, n=2))
    # then a drain while T1 is still open handles T2's message
    assert drain(sub, P).handled == 1
    # when T1 commits last
    t1_commit.set()
    finish(writer1)
    # then T1's message got the next offset (commit order, not start order) and the
    # subscription, which had already moved past T2's, still handles it
    assert xids["t1"] < xids["t2"]
    assert (second.offset, writer1.result.offset) == (1, 2)
    assert drain(sub, P).handled == 1
    assert effects() == [(second_key, 2), (first_key, 1)]
    assert position(P) == 2 and offsets_in_log(P) == [1, 2]


def test_row_ids_commit_out_of_order_which_is_why_readers_follow_offsets(subscribe):
    # given T1: it writes a row to partition P and stays open
    sub = subscribe("s", topics=("t.things",))
    sub.on(ThingHappened)(record_effect)
    (key_p,), (key_q,) = keys_in(P, 1), keys_in(Q, 1)
    t1_published, t1_commit = threading.Event(), threading.Event()

    def t1() -> int:
        with transaction.atomic():
            (item,) = publish(ThingHappened(thing_id=key_p, n=1))
            row_id = LogEntry.objects.get(message_id=item.message_id).id
            t1_published.set()
            assert t1_commit.wait(10)
        return row_id

    writer1 = start(t1, "t1")
    assert t1_published.wait(10)
    # when T2 writes to another partition (no shared counter, so no wait) and commits
    (second,) = emit(ThingHappened(thing_id=key_q, n=2))
    # then T2's row is visible with a higher id than T1's invisible one: a reader that
    # followed the serial id would now move past T1's row for good
    visible = list(LogEntry.objects.values_list("id", "message_id"))
    assert [message_id for _, message_id in visible] == [second.message_id]
    assert drain(sub, Q).handled == 1 and drain(sub, P).handled == 0
    t1_commit.set()
    finish(writer1)
    assert visible[0][0] > writer1.result
    # and a subscription that follows per-partition offsets handles T1's all the same
    assert drain(sub, P).handled == 1
    assert sorted(effects()) == sorted([(key_p, 1), (key_q, 2)])


class Abort(Exception):
    """Rolls a writer's transaction back on purpose."""


def test_committed_offsets_are_always_a_prefix_while_writers_race(subscribe):
    # given a subscription drained in a loop while 6 writers publish to P and Q, each
    # holding its offsets a moment before committing, and some rolling back
    sub = subscribe("s", topics=("t.things",), batch_size=7)
    sub.on(ThingHappened)(record_effect)
    keys = keys_in(P, 4) + keys_in(Q, 4)
    committed: list[PendingMessage] = []
    rolled_back: list[PendingMessage] = []
    guard = threading.Lock()
    writing_done, drained_mid_storm = threading.Event(), threading.Event()

    def writer(number: int) -> None:
        rng = random.Random(number)
        for turn in range(25):
            if number == 0 and turn == 12:  # make sure a drain ran during the storm
                assert drained_mid_storm.wait(10)
            messages = [
                ThingHappened(thing_id=rng.choice(keys), n=number * 100 + turn)
                for _ in range(rng.randint(1, 3))
            ]
            abort = rng.random() < 0.15
            items: list[PendingMessage] = []
            try:
                with transaction.atomic():
                    items = publish(*messages)
                    time.sleep(rng.random() * 0.002)  # widen the window
                    if abort:
                        raise Abort
            except Abort:
                with guard:
                    rolled_back.extend(items)
                continue
            with guard:
                committed.extend(items)

    def snapshot_reader() -> int:
        """Snapshots of each partition: head then rows, and all visible rows."""
        snapshots = 0
        while not writing_done.is_set():
            for partition in (P, Q):
                head = reader.head(partition)
                upto = reader.read(partition, after=0, upto=head, limit=10_000)
                visible = offsets_in_log(partition)
                assert [e.offset for e in upto] == list(range(1, head + 1))
                assert visible == list(range(1, len(visible) + 1))
                assert len(visible) >= head
                snapshots += 1
        return snapshots

    def drainer() -> None:
        while not writing_done.is_set():
            for partition in (P, Q):
                if drain(sub, partition).handled:
                    drained_mid_storm.set()

    watchers = [start(snapshot_reader, "reader"), start(drainer, "drainer")]
    writers = [start(partial(writer, n), f"writer-{n}") for n in range(6)]
    # when the writers are done, and the drainer has had its last pass
    try:
        finish(*writers)
    finally:
        writing_done.set()
    finish(*watchers)
    for partition in (P, Q):
        drain(sub, partition)
    # then every snapshot was gap-free (asserted in the reader), and each committed
    # message was handled exactly once, in offset order; rolled back ones left nothing
    assert watchers[0].result > 0 and rolled_back
    assert_each_handled_once(committed)
    assert_handled_in_offset_order(committed)
    assert not LogEntry.objects.filter(
        message_id__in=[item.message_id for item in rolled_back]
    ).exists()
    for partition in (P, Q):
        in_partition = [item for item in committed if item.partition == partition]
        assert reader.head(partition) == len(in_partition) == position(partition)


# --- 2. a storm through the in-process dispatcher ----------------------------------


def test_storm_through_the_dispatcher_handles_each_message_once_in_key_order(
    subscribe, dispatcher
):
    # given a subscription delivered by the in-process dispatcher
    sub = subscribe("s", topics=("t.things",), batch_size=20)
    sub.on(ThingHappened)(record_effect)
    published: list[PendingMessage] = []
    guard = threading.Lock()

    def writer(number: int) -> None:
        """50 transactions of 1-3 messages on its own keys, numbered per key."""
        rng = random.Random(100 + number)
        keys = [f"w{number}-k{i}" for i in range(6)]
        sequence: Counter[str] = Counter()
        for _ in range(50):
            messages = []
            for _ in range(rng.randint(1, 3)):
                key = rng.choice(keys)
                messages.append(ThingHappened(thing_id=key, n=sequence[key]))
                sequence[key] += 1
            items = emit(*messages)
            with guard:
                published.extend(items)

    # when 8 writers publish at once
    writers = [start(partial(writer, n), f"writer-{n}") for n in range(8)]
    finish(*writers)
    wait_for_messages("s", published, timeout=20)
    # then each message was handled once, every key in its own order, and each
    # partition in offset order with its offsets contiguous
    assert len(published) >= 400
    assert_each_handled_once(published)
    per_key: dict[str, list[int]] = defaultdict(list)
    for key, n in effects():
        per_key[key].append(n)
    assert len(per_key) == 48
    for key, numbers in per_key.items():
        assert numbers == list(range(len(numbers))), key
    assert_handled_in_offset_order(published)
    for partition, head in reader.heads().items():
        assert offsets_in_log(partition) == list(range(1, head + 1))


class ReleaseHook:
    """A stand-in for the dispatcher's lock that calls ``hook`` right after a release
    in a thread that has just returned from a drain: the moment a drain has decided it
    is finished but has not yet said so."""

    def __init__(self, hook: Callable[[], None]) -> None:
        self._lock = threading.Lock()
        self.hook = hook
        self.just_drained = threading.local()

    def __enter__(self) -> ReleaseHook:
        self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()
        if getattr(self.just_drained, "flag", False):
            self.just_drained.flag = False
            self.hook()


def test_a_wake_up_arriving_as_a_drain_finishes_is_not_lost(subscribe, monkeypatch):
    # given a dispatcher whose sweep will not come back during the test, and a
    # message committed (and its wake-up sent) just as a drain finishes
    from events.dispatch import inprocess
    from events.dispatch.current import set_dispatcher

    sub = subscribe("s", topics=("t.things",))
    sub.on(ThingHappened)(record_effect)
    key = keys_in(P, 1)[0]
    late: list[PendingMessage] = []
    late_published, swept_once = threading.Event(), threading.Event()

    def publish_late() -> None:
        if not late:
            late.extend(emit(ThingHappened(thing_id=key, n=2)))
            late_published.set()

    lock = ReleaseHook(publish_late)
    # the names the dispatcher looks up in its module, which the test patches
    real_drain, real_pending = inprocess.drain, inprocess.pending_targets  # type: ignore[attr-defined]

    def drain_and_mark(*args: Any, **kwargs: Any) -> Any:
        result = real_drain(*args, **kwargs)
        lock.just_drained.flag = True
        return result

    def pending_and_mark() -> Any:
        try:
            return real_pending()
        finally:
            swept_once.set()

    monkeypatch.setattr(inprocess, "drain", drain_and_mark)
    monkeypatch.setattr(inprocess, "pending_targets", pending_and_mark)
    running = inprocess.InProcessDispatcher(threads=1, sweep_seconds=3600)
    # the stand-in has the Lock's acquire and release, which the dispatcher calls
    running._lock = lock  # type: ignore[assignment]
    set_dispatcher(running)
    running.start()
    try:
        assert swept_once.wait(10)
        # when the first message is drained, and the late one commits at that moment
        first = emit(ThingHappened(thing_id=key, n=1))
        wait_for_messages("s", first)
        assert late_published.wait(10)
        # then the late message's wake-up still gets it delivered (not the sweep)
        wait_for_messages("s", late, timeout=2)
        assert effects() == [(key, 1), (key, 2)]
    finally:
        running.stop()
        set_dispatcher(None)


# --- 3. concurrent drains of one (subscription, partition) -------------------------


def test_concurrent_drains_of_one_partition_take_turns_and_never_double_an_effect(
    subscribe, caplog
):
    # given a handler that counts how many drains are inside it at once, and holds
    # its first message until another drain has been turned away
    caplog.set_level(logging.INFO, logger="events.delivery")
    sub = subscribe("s", topics=("t.things",), batch_size=5)
    keys = keys_in(P, 5)
    guard = threading.Lock()
    inside = {"now": 0, "most": 0}
    turned_away = threading.Event()

    @sub.on(ThingHappened)
    def handle(event: ThingHappened, ctx: Context) -> None:
        with guard:
            inside["now"] += 1
            inside["most"] = max(inside["most"], inside["now"])
        try:
            if event.thing_id == keys[4]:  # (no assert: a failure here would retry)
                turned_away.wait(5)
            time.sleep(0.0005)  # widen the window for an overlap
            record_effect(event, ctx)
        finally:
            with guard:
                inside["now"] -= 1

    published = emit(ThingHappened(thing_id=keys[4], n=0))
    writing_done = threading.Event()

    def writer(own: list[str]) -> list[PendingMessage]:
        rng, sequence, items = random.Random(own[0]), Counter[str](), []
        for _ in range(30):
            messages = []
            for _ in range(rng.randint(1, 3)):
                key = rng.choice(own)
                messages.append(ThingHappened(thing_id=key, n=sequence[key]))
                sequence[key] += 1
            items.extend(emit(*messages))
        return items

    def drainer() -> tuple[int, int]:
        busy = handled = 0
        while True:
            last = writing_done.is_set()  # read first: the last pass sees everything
            result = drain(sub, P, limit=7)
            busy += result.busy
            handled += result.handled
            if result.busy:
                turned_away.set()
            if last:
                return busy, handled

    # when 6 threads drain the partition over and over while 2 writers publish to it
    drainers = [start(drainer, f"drainer-{n}") for n in range(6)]
    writers = [
        start(partial(writer, own), f"writer-{own[0]}")
        for own in (keys[0:2], keys[2:4])
    ]
    try:
        finish(*writers)
    finally:
        writing_done.set()
    finish(*drainers)
    handled_after = drain(sub, P).handled
    for worker in writers:
        published.extend(worker.result)
    # then drains were turned away, never two ran handlers at once, no batch was rolled
    # back for a moved checkpoint, and each message was handled once, in key order
    assert sum(worker.result[0] for worker in drainers) > 0
    assert inside["most"] == 1
    assert "checkpoint moved" not in caplog.text
    handled = sum(worker.result[1] for worker in drainers) + handled_after
    assert handled == len(published)
    assert_each_handled_once(published)
    assert_handled_in_offset_order(published)
    per_key: dict[str, list[int]] = defaultdict(list)
    for key, n in effects():
        per_key[key].append(n)
    assert all(numbers == list(range(len(numbers))) for numbers in per_key.values())
    assert position(P) == reader.head(P) == len(published)


@contextmanager
def no_drain_lock(subscription: str, partition: int) -> Iterator[bool]:
    yield True


def test_overlapping_drains_without_the_lock_roll_back_the_loser_which_rereads(
    subscribe, monkeypatch
):
    # given the drain lock out of the way, as if two workers' locks did not see each
    # other (locks.py: "for efficiency and order, not for correctness")
    monkeypatch.setattr("events.delivery.drain.drain_lock", no_drain_lock)
    sub = subscribe("s", topics=("t.things",))
    key = keys_in(P, 1)[0]
    published = emit(*(ThingHappened(thing_id=key, n=n) for n in range(3)))
    a_inside, a_may_go = threading.Event(), threading.Event()
    drainers: dict[str, Worker] = {}

    @sub.on(ThingHappened)
    def handle(event: ThingHappened, ctx: Context) -> None:
        if threading.current_thread().name == "a" and event.n == 0:
            a_inside.set()
            # B has read the same batch and now waits behind A's uncommitted rows
            assert a_may_go.wait(10)
        record_effect(event, ctx)

    drainers["a"] = start(lambda: drain(sub, P), "a")
    assert a_inside.wait(10)
    # when B drains the same batch while A is inside it
    drainers["b"] = start(lambda: drain(sub, P), "b")
    wait_until_blocked(drainers["b"].pid, by=drainers["a"].pid)
    a_may_go.set()
    for worker in drainers.values():
        worker.join(20)
    # then the effects are there once (this holds) ...
    assert_each_handled_once(published)
    assert position(P) == 3
    # ... and the loser's batch rolled back and was re-read, without an error
    assert drainers["a"].error is None and drainers["a"].result.handled == 3
    assert drainers["b"].error is None, repr(drainers["b"].error)
    assert drainers["b"].result.handled == 0


# --- 4. the checkpoint's compare-and-set -------------------------------------------


def test_advancing_a_checkpoint_from_a_stale_position_fails_and_keeps_nothing(
    subscribe,
):
    # given a subscription at offset 3
    sub = subscribe("s", topics=("t.things",))
    sub.on(ThingHappened)(record_effect)
    key = keys_in(P, 1)[0]
    emit(*(ThingHappened(thing_id=key, n=n) for n in range(1, 4)))
    drain(sub, P)
    assert position(P) == 3
    # when a batch that read the checkpoint at 1 tries to move it
    with pytest.raises(CheckpointMoved), transaction.atomic():
        Effect.objects.create(label="h", key="stale batch")
        checkpoints.advance("s", P, expected=1, to=5)
    # then the batch kept nothing and the checkpoint stayed
    assert position(P) == 3
    assert not Effect.objects.filter(key="stale batch").exists()


def test_a_batch_whose_checkpoint_moves_underneath_rolls_back_whole_and_is_reread(
    subscribe, caplog
):
    # given 4 messages handled and 4 more waiting, and a handler that, the first time
    # it sees message 5, moves the checkpoint back to 0 from another connection
    caplog.set_level(logging.INFO, logger="events.delivery")
    sub = subscribe("s", topics=("t.things",), batch_size=10)
    key = keys_in(P, 1)[0]
    calls: Counter[int] = Counter()
    movers: list[Worker] = []

    def move_back() -> int:
        # the sanctioned way refuses while a drain holds the partition ...
        with pytest.raises(replay.ReplayError, match="is running"):
            replay.seek(sub, to_offset=1, partitions=[P])
        # ... a raw update (no lock held on the row by the batch yet) goes through
        return Checkpoint.objects.filter(subscription="s", partition=P).update(
            position=0
        )

    @sub.on(ThingHappened)
    def handle(event: ThingHappened, ctx: Context) -> None:
        calls[event.n] += 1
        record_effect(event, ctx)
        if event.n == 5 and calls[5] == 1:
            movers.append(start(move_back, "mover"))
            movers[0].join(20)

    published = emit(*(ThingHappened(thing_id=key, n=n) for n in range(1, 5)))
    assert drain(sub, P).handled == 4
    published += emit(*(ThingHappened(thing_id=key, n=n) for n in range(5, 9)))
    # when the next batch runs
    result = drain(sub, P)
    # then the move happened mid-batch; the batch rolled back whole and was read again
    # from the moved checkpoint: 1-4 skipped by the inbox, 5-8 handled again, once
    finish(*movers)
    assert movers[0].result == 1
    assert "checkpoint moved; re-reading" in caplog.text
    assert calls == {1: 1, 2: 1, 3: 1, 4: 1, 5: 2, 6: 2, 7: 2, 8: 2}
    assert result.handled == 4
    assert effects() == [(key, n) for n in range(1, 9)]
    assert_each_handled_once(published)
    assert position(P) == 8


# --- 5. publishing to several partitions never deadlocks ---------------------------


def test_writers_publishing_to_two_partitions_in_opposite_orders_do_not_deadlock(
    monkeypatch,
):
    # given partition counters that record who takes them, in which order, and W1
    # pausing once it holds its first one
    (key_p,), (key_q,) = keys_in(P, 1), keys_in(Q, 1)
    taken: dict[str, list[int]] = defaultdict(list)
    w1_holds_one, w1_go = threading.Event(), threading.Event()
    reserve = writer.reserve_offsets

    def recording_reserve(partition: int, count: int) -> int:
        first = reserve(partition, count)
        name = threading.current_thread().name
        taken[name].append(partition)
        if name == "w1" and len(taken[name]) == 1:
            w1_holds_one.set()
            assert w1_go.wait(10)
        return first

    monkeypatch.setattr(writer, "reserve_offsets", recording_reserve)

    def w1() -> list[PendingMessage]:
        """A unit of work publishing Q's message, then P's."""
        with unit_of_work() as unit:
            publish(ThingHappened(thing_id=key_q, n=1))
            publish(ThingHappened(thing_id=key_p, n=1))
        return unit.written

    def w2() -> list[PendingMessage]:
        """One publish() of P's message, then Q's."""
        with transaction.atomic():
            written = publish(
                ThingHappened(thing_id=key_p, n=2), ThingHappened(thing_id=key_q, n=2)
            )
        return written

    # when W1 holds its first counter and W2 comes to wait for it
    first = start(w1, "w1")
    assert w1_holds_one.wait(10)
    second = start(w2, "w2")
    wait_until_blocked(second.pid, by=first.pid)
    w1_go.set()
    # then both commit (no deadlock): each took the counters in ascending order, and
    # W2 follows W1 in both partitions
    finish(first, second)
    assert taken == {"w1": [P, Q], "w2": [P, Q]}
    offsets = {
        (item.partition, item.message.n): item.offset
        for item in first.result + second.result
    }
    assert offsets == {(P, 1): 1, (Q, 1): 1, (P, 2): 2, (Q, 2): 2}
    assert offsets_in_log(P) == offsets_in_log(Q) == [1, 2]
