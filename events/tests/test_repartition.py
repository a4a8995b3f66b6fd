"""Raising the partition count: the count in the database, the cut, the gates that keep
every key's order across it, and the command's plan, refusals and follow-up. Drains
are called directly, so every step is deterministic; ``test_repartition_celery.py``
does it under load with real workers.

Runs on SQLite and, in the PostgreSQL pass, on PostgreSQL (the lock tests only there).
"""

from __future__ import annotations

import itertools
import threading
from datetime import timedelta
from typing import Any

from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction

import pytest

from events.delivery import checkpoints
from events.delivery.drain import drain
from events.delivery.retries import Backoff
from events.delivery.subscriptions import registry
from events.log import layout, reader
from events.log.outbox import publish
from events.log.partitions import partition_for
from events.models import PartitionCut, PartitionGate, PartitionLayout
from events.ops import repartition
from processes.waiting import wait_until
from tests.effects.models import Effect

from .support.messages import DoThing, ThingHappened

pytestmark = pytest.mark.django_db(transaction=True)
NO_WAIT = Backoff(base=timedelta(0), cap=timedelta(0))


def key_moving(old: int, new: int, *, prefix: str = "k") -> str:
    """A key of partition ``old`` with 8 partitions and ``new`` with 16."""
    return next(
        key
        for key in (f"{prefix}{i}" for i in itertools.count())
        if partition_for(key, 8) == old and partition_for(key, 16) == new
    )


def emit(*messages):
    with transaction.atomic():
        return publish(*messages)


def recording(subscribe, name="s", **options):
    sub = subscribe(name, topics=("t.things",), **options)

    @sub.on(ThingHappened)
    def handle(event, ctx):
        Effect.objects.create(
            label=name,
            key=event.thing_id,
            value=event.n,
            message_id=ctx.envelope.message_id,
        )

    return sub


def values(key, label="s"):
    rows = Effect.objects.filter(label=label, key=key).order_by("id")
    return list(rows.values_list("value", flat=True))


def drain_everyone():
    """Every registered subscription, every partition, until nothing moves (what the
    workers do); returns how many messages were handled."""
    total = 0
    while True:
        handled = sum(
            drain(subscription, partition).handled
            for subscription in registry.all()
            for partition in range(layout.partition_count())
        )
        moved = any(
            checkpoints.where(s, p).has_work
            for s in registry.all()
            for p in range(layout.partition_count())
        )
        total += handled
        if not moved:
            return total


# --- the count ---------------------------------------------------------------------


def test_writers_follow_the_count_in_the_database_not_their_setting(settings):
    # given a database at 8 partitions and a process configured with 3
    assert layout.partition_count() == 8
    settings.EVENTS_PARTITIONS = 3
    keys = [f"k{i}" for i in range(40)]
    # when it publishes
    items = emit(*(ThingHappened(thing_id=k) for k in keys))
    # then every message went where 8 partitions put it, and the heads list all 8
    assert [i.partition for i in items] == [partition_for(k, 8) for k in keys]
    assert max(i.partition for i in items) >= 3
    assert len(reader.heads()) == 8


def test_a_flushed_database_gets_its_layout_row_back_from_the_setting(settings):
    # given a database flushed as tests do, with a process configured with 5
    settings.EVENTS_PARTITIONS = 5
    call_command("flush", interactive=False, verbosity=0)
    # then post_migrate seeded the row from the setting, and writers use it
    assert PartitionLayout.objects.get().partitions == 5
    (item,) = emit(ThingHappened(thing_id="seeded"))
    assert item.partition == partition_for("seeded", 5)
    PartitionLayout.objects.update(partitions=8)  # the next tests' count


def test_feeders_are_the_old_partitions_of_the_keys_that_land_in_a_partition():
    # given many keys and several raises
    keys = [f"key-{i}" for i in range(4000)]
    for before, after in [(8, 16), (8, 12), (8, 9), (3, 32)]:
        # then every key's old partition is a feeder of its new one
        for key in keys:
            new = partition_for(key, after)
            assert partition_for(key, before) in layout.feeders(before, after, new)
        # and the share of keys that stay is the one predicted
        stay = sum(partition_for(k, before) == partition_for(k, after) for k in keys)
        assert abs(stay / len(keys) - layout.staying_share(before, after)) < 0.03


# --- the gates ---------------------------------------------------------------------


def test_a_moved_keys_new_messages_wait_until_its_old_ones_are_delivered(subscribe):
    # given a key that moves from partition 3 to 11, and one that stays in 3, with
    # messages of the old layout not delivered yet
    sub = recording(subscribe)
    moving, staying = key_moving(3, 11), key_moving(3, 3)
    emit(*(ThingHappened(thing_id=moving, n=n) for n in range(3)))
    emit(*(ThingHappened(thing_id=staying, n=n) for n in range(3)))
    # when the count is raised and both keys get newer messages
    cut = repartition.switch(16)
    assert cut.fences[3] > 0 and cut.fences[11] == 0
    newer = emit(*(ThingHappened(thing_id=moving, n=n) for n in range(3, 6)))
    emit(*(ThingHappened(thing_id=staying, n=n) for n in range(3, 6)))
    assert {i.partition for i in newer} == {11}
    # then partition 11 cannot be read yet: its gate waits for partition 3's fence
    assert drain(sub, 11).handled == 0
    assert checkpoints.where(sub, 11).head == 0
    assert (sub.name, 11) not in checkpoints.pending_targets()
    # when partition 3 is drained (the old layout, then the staying key's new ones)
    drain(sub, 3)
    # then partition 11 opens, and each key saw its messages in order
    assert (sub.name, 11) in checkpoints.pending_targets()
    drain(sub, 11)
    assert values(moving) == [0, 1, 2, 3, 4, 5]
    assert values(staying) == [0, 1, 2, 3, 4, 5]


def test_a_subscription_reading_from_the_start_later_keeps_order_across_the_cut(
    subscribe,
):
    # given a raise that has settled, a key's messages on both sides of it
    moving = key_moving(5, 13)
    emit(*(ThingHappened(thing_id=moving, n=n) for n in range(3)))
    cut = repartition.switch(16)
    emit(*(ThingHappened(thing_id=moving, n=n) for n in range(3, 5)))
    drain_everyone()
    assert repartition.wait_settled(cut.generation, timeout=1) == {}
    # when a new subscription reads the log from the start, new partitions first
    late = recording(subscribe, "late")
    assert drain(late, 13).handled == 0  # gated: it has not passed p5's fence
    drain(late, 5)
    drain(late, 13)
    # then it too sees the key in order
    assert values(moving, "late") == [0, 1, 2, 3, 4]


def test_a_subscription_starting_at_the_head_misses_nothing_in_new_partitions(
    subscribe,
):
    # given a subscription that starts at the head, running before the raise
    sub = recording(subscribe, "tail", start="latest")
    moving = key_moving(6, 14)
    emit(ThingHappened(thing_id=moving, n=0))
    drain(sub, 6)
    # when the count is raised and the key's next messages land in a new partition
    repartition.switch(16)
    emit(*(ThingHappened(thing_id=moving, n=n) for n in (1, 2)))
    # then its first drain there delivers them: it starts where the partition began
    drain(sub, 6)
    drain(sub, 14)
    assert values(moving, "tail") == [1, 2]


def test_a_replay_across_the_cut_reads_the_old_layout_first(subscribe):
    # given a key delivered on both sides of a raise
    sub = recording(subscribe)
    moving = key_moving(2, 10)
    emit(*(ThingHappened(thing_id=moving, n=n) for n in range(2)))
    repartition.switch(16)
    emit(*(ThingHappened(thing_id=moving, n=n) for n in range(2, 4)))
    drain_everyone()
    # when the subscription is replayed from the start
    from events.ops import replay

    replay.seek(sub, to_offset=1)
    # then the new partition waits for the old one again
    assert drain(sub, 10).handled == 0
    drain(sub, 2)
    drain(sub, 10)
    assert values(moving) == [0, 1, 2, 3, 0, 1, 2, 3]


def test_stages_read_each_layout_before_the_next():
    # given messages before and after a raise
    emit(*(ThingHappened(thing_id=f"k{i}") for i in range(30)))
    cut = repartition.switch(16)
    emit(*(ThingHappened(thing_id=f"k{i}") for i in range(30)))
    # then a full read stops first at the fences, then at the heads
    first, last = layout.stages(reader.heads())
    assert first == cut.fences
    assert last == reader.heads()


# --- the command -------------------------------------------------------------------


def run_command(*args):
    from io import StringIO

    out = StringIO()
    call_command("events", "repartition", *map(str, args), stdout=out)
    return out.getvalue()


def test_lowering_or_keeping_the_count_is_refused_and_changes_nothing():
    for asked in (8, 4):
        with pytest.raises(CommandError, match="can only be raised"):
            run_command(asked)
    assert layout.partition_count() == 8
    assert not PartitionCut.objects.exists()


def test_dry_run_shows_the_plan_and_changes_nothing():
    # when
    out = run_command(16, "--dry-run")
    # then
    assert "partitions: 8 -> 16" in out
    assert "keys keeping their partition: 50%" in out
    assert "p11 <- p3" in out
    assert "nothing was changed" in out
    assert layout.partition_count() == 8
    assert not PartitionCut.objects.exists() and not PartitionGate.objects.exists()


def test_a_subscription_retrying_refuses_the_raise_with_its_name(subscribe):
    # given a subscription whose message fails and waits for its retry
    sub = subscribe("flaky", topics=("t.things",), max_attempts=5)

    @sub.on(ThingHappened)
    def fail(event, ctx):
        raise ValueError("provider down")

    (item,) = emit(ThingHappened(thing_id="x"))
    drain(sub, item.partition)
    # when / then
    with pytest.raises(
        CommandError, match=r"flaky is retrying p\d+@1: ValueError: provider down"
    ):
        run_command(16)
    assert layout.partition_count() == 8
    with pytest.raises(CommandError, match="it would refuse: flaky is retrying"):
        run_command(16, "--dry-run")


def test_a_subscription_far_behind_refuses_the_raise(subscribe):
    # given a subscription 10 messages behind
    recording(subscribe, "slow")
    emit(*(ThingHappened(thing_id=f"k{i}") for i in range(10)))
    # then a limit of 5 refuses, naming it; a limit of 10 lets it through
    with pytest.raises(CommandError, match="slow is 10 messages behind"):
        run_command(16, "--max-lag", 5, "--timeout", 1)
    assert layout.partition_count() == 8
    with pytest.raises(CommandError, match="slow has 10 messages of the old layout"):
        run_command(16, "--max-lag", 10, "--timeout", 0.5)
    assert layout.partition_count() == 16
    # and a second raise waits for the first to settle
    with pytest.raises(CommandError, match="raise from 8 to 16 .* has not settled"):
        run_command(32)


def test_messages_a_subscription_only_passes_are_no_lag_that_refuses(subscribe):
    # given a subscription of t.things that handles ThingHappened only, and 10
    # messages of its topic of another type past its checkpoints
    recording(subscribe, "picky")
    emit(*(DoThing(thing_id=f"k{i}") for i in range(10)))
    # then the plan shows it caught up, as events status does, and a limit of 5 lets
    # the raise through
    standings = {s.subscription: s for s in repartition.plan(16).standings}
    assert standings["picky"].lag == 0
    with pytest.raises(CommandError, match="picky has 10 messages of the old layout"):
        run_command(16, "--max-lag", 5, "--timeout", 0.5)
    assert layout.partition_count() == 16


def test_the_command_follows_the_drain_until_every_subscription_has_passed(
    subscribe, dispatcher
):
    # given delivery running (the in-process dispatcher) and messages on their way
    sub = recording(subscribe)
    moving = key_moving(1, 9)
    emit(*(ThingHappened(thing_id=moving, n=n) for n in range(20)))
    # when the count is raised and more messages follow
    out = run_command(16, "--timeout", 60)
    emit(*(ThingHappened(thing_id=moving, n=n) for n in range(20, 25)))
    # then it reported the cut and its end, and the raise is recorded as settled
    assert "8 -> 16 partitions" in out and "settled" in out
    assert PartitionCut.objects.get().settled_at is not None
    from events.delivery.waiting import wait_for_position

    wait_for_position(sub.name, 9, reader.head(9), timeout=10)
    assert values(moving) == list(range(25))


# --- the lock (PostgreSQL) ---------------------------------------------------------


class Thread(threading.Thread):
    result: Any  # what fn returned

    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn, self.result, self.error = fn, None, None

    def run(self):
        try:
            self.result = self.fn()
        except BaseException as error:
            self.error = error
        finally:
            connections.close_all()


def backend_pid():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def blocked_pids():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE cardinality(pg_blocking_pids(pid)) > 0"
        )
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.postgres
def test_the_cut_waits_for_writers_in_flight_and_holds_new_ones_back():
    # given a writer that has taken offsets and not committed yet
    taken, release = threading.Event(), threading.Event()

    def slow_writer():
        with transaction.atomic():
            publish(ThingHappened(thing_id="first"))
            taken.set()
            release.wait(20)

    first = Thread(slow_writer)
    first.start()
    assert taken.wait(10)
    # when a cut with a short pause is asked: it is refused, nothing changed
    with pytest.raises(layout.LayoutBusy, match="nothing was changed"):
        layout.cut(16, pause_timeout=0.2)
    assert layout.partition_count() == 8
    # when a patient cut is asked, and another writer comes after it
    cutter = Thread(lambda: layout.cut(16, pause_timeout=20))
    cutter.start()
    wait_until(
        lambda: len(blocked_pids()) == 1,
        "the cut to wait for the writer",
        10,
        interval=0.005,
    )
    moving = key_moving(4, 12, prefix="late")
    second = Thread(lambda: emit(ThingHappened(thing_id=moving)))
    second.start()
    # it queues behind the cut
    wait_until(
        lambda: len(blocked_pids()) == 2,
        "the second writer to queue behind the cut",
        10,
        interval=0.005,
    )
    # then both wait until the first writer commits; the cut's fence includes it,
    # and the second writer, let through after the cut, uses the new count
    release.set()
    for thread in (first, cutter, second):
        thread.join(20)
        assert thread.error is None, thread.error
    assert cutter.result.fences[partition_for("first", 8)] == reader.head(
        partition_for("first", 8)
    )
    assert second.result[0].partition == 12
    assert layout.partition_count() == 16


def test_a_rebuild_folds_each_key_in_order_across_a_raise(monkeypatch):
    # given a tally whose key moves from partition 7 to 3 when 8 become 12 (so the new
    # partition comes first in partition order), with events on both sides
    from uuid import uuid4

    from events.store import rebuild, repository

    from .support.tally import Tally
    from .support.tally_view import TallyViewProjection

    tally_id = next(
        u
        for u in iter(uuid4, None)
        if partition_for(str(u), 8) == 7 and partition_for(str(u), 12) == 3
    )

    def add(*amounts):
        with transaction.atomic():
            tally = repository.load(Tally, tally_id)
            for amount in amounts:
                tally.add(amount)
            repository.save(tally)

    add(1, 2)
    layout.cut(12, pause_timeout=5)
    add(3, 4)
    folded: list[int] = []
    apply = TallyViewProjection.apply

    def spying(self, deliveries):
        folded.extend(d.message.amount for d in deliveries)
        return apply(self, deliveries)

    monkeypatch.setattr(TallyViewProjection, "apply", spying)
    # when the projection is rebuilt
    rebuild.rebuild(TallyViewProjection)
    # then the old layout's events were folded first
    assert folded == [1, 2, 3, 4]
