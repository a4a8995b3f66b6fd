"""Subscriptions and delivery: exactly-once effects, batches, order, retries, dead
letters, redrive, outside handlers, replay. Drains are called directly here, so every
step is deterministic; the dispatchers have their own tests.

Runs on SQLite and, in the PostgreSQL pass, on PostgreSQL."""

import threading
from datetime import timedelta
from uuid import uuid4

from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

import pytest

from events.delivery import checkpoints, deadletters
from events.delivery.drain import drain
from events.delivery.locks import drain_lock
from events.delivery.retries import Backoff
from events.log import partitions, reader
from events.log.outbox import publish
from events.models import Checkpoint, DeadLetter, LogEntry
from events.ops import replay
from events.store import streams
from tests.effects.models import Effect

from .support.messages import DoThing, OtherHappened, Renamed, ThingHappened
from .support.tally import Tallied

pytestmark = pytest.mark.django_db(transaction=True)
NO_WAIT = Backoff(base=timedelta(0), cap=timedelta(0))


def emit(*messages):
    with transaction.atomic():
        return publish(*messages)


def drain_all(subscription):
    results = [drain(subscription, p) for p in range(8)]
    return sum(r.handled for r in results), results


def record(label):
    def handler(event, ctx):
        Effect.objects.create(
            label=label,
            key=event.thing_id,
            value=event.n,
            message_id=ctx.envelope.message_id,
        )

    return handler


def effects(label="h"):
    return list(
        Effect.objects.filter(label=label).order_by("id").values_list("key", "value")
    )


def test_each_message_is_handled_once_and_the_checkpoint_reaches_the_head(subscribe):
    # given
    sub = subscribe("s", topics=("t.things",))
    sub.on(ThingHappened)(record("h"))
    items = emit(*(ThingHappened(thing_id=f"k{i}", n=i) for i in range(30)))
    emit(OtherHappened(thing_id="k1"))  # another topic: passed over
    # when
    handled, _ = drain_all(sub)
    # then
    assert handled == 30
    assert sorted(v for _, v in effects()) == list(range(30))
    for partition, head in reader.heads().items():
        assert (
            Checkpoint.objects.get(subscription="s", partition=partition).position
            == head
        )
    assert {i.message_id for i in items} == set(
        Effect.objects.values_list("message_id", flat=True)
    )


def test_messages_of_types_it_does_not_handle_cost_no_batch(subscribe):
    # given a subscription that takes one message per transaction, and a partition
    # holding 20 messages of its topic of a type it does not handle, then one it does
    sub = subscribe("s", topics=("t.things",), batch_size=1)
    sub.on(ThingHappened)(record("h"))
    renames = [
        Renamed(thing_id="k", first="A", last=str(i), title="") for i in range(20)
    ]
    (*_, last) = emit(*renames, ThingHappened(thing_id="k", n=1))
    # when the partition is drained
    with CaptureQueriesContext(connection) as queries:
        result = drain(sub, last.partition)
    # then one transaction moved the checkpoint: the others were skipped in the read,
    # not read and passed one transaction each (21 moves before)
    moves = [q for q in queries if q["sql"].startswith("UPDATE events_checkpoint")]
    assert (result.handled, len(moves)) == (1, 1)
    assert effects() == [("k", 1)]
    assert Checkpoint.objects.get(
        subscription="s", partition=last.partition
    ).position == reader.head(last.partition)


def test_a_sweep_wakes_only_where_a_handled_type_waits(subscribe):
    # given a subscription behind on two partitions: on one only by messages of its
    # topic that it does not handle, on the other by one it handles
    sub = subscribe("s", topics=("t.things",))
    sub.on(ThingHappened)(record("h"))
    passed, handled = keys_on_two_partitions()
    (rename,) = emit(Renamed(thing_id=passed, first="A", last="B", title=""))
    (thing,) = emit(ThingHappened(thing_id=handled, n=1))
    # then a sweep wakes it where its handler has work, and not where a drain would
    # only move its checkpoint
    pending = [t for t in checkpoints.pending_targets() if t[0] == "s"]
    assert pending == [("s", thing.partition)]
    # while a repartition, whose fences need every checkpoint moved, sees both
    behind = {t for t in checkpoints.behind_targets() if t[0] == "s"}
    assert behind == {("s", rename.partition), ("s", thing.partition)}


def test_a_look_sees_what_a_drain_hands_on_while_it_looks(subscribe, monkeypatch):
    # given a, which handles DoThing and publishes OtherHappened, which b handles
    a = subscribe("a", topics=("t.things",))

    @a.handles(DoThing)
    def hand_on(command, ctx):
        ctx.publish(OtherHappened(thing_id=command.thing_id))

    subscribe("b", topics=("t.other",)).on(OtherHappened)(record("b"))
    (item,) = emit(DoThing(thing_id="k"))
    # when a's drain commits while the look is between its reads (after the heads)
    real_heads = reader.heads

    def heads_then_a_drain():
        seen = real_heads()
        monkeypatch.setattr(reader, "heads", real_heads)
        assert drain(a, item.partition).handled == 1
        return seen

    monkeypatch.setattr(reader, "heads", heads_then_a_drain)
    # then the look does not say that nothing waits (b's message does), and the next
    # one names b
    assert checkpoints.pending_targets()
    assert ("b", item.partition) in checkpoints.pending_targets()


def keys_on_two_partitions() -> tuple[str, str]:
    first = "k0"
    other = next(
        f"k{i}"
        for i in range(1, 100)
        if partitions.partition_for(f"k{i}") != partitions.partition_for(first)
    )
    return first, other


def test_per_key_order_is_kept(subscribe):
    sub = subscribe("s", topics=("t.things",), batch_size=7)
    sub.on(ThingHappened)(record("h"))
    emit(*(ThingHappened(thing_id=k, n=i) for i in range(20) for k in ("a", "b", "c")))
    drain_all(sub)
    for key in ("a", "b", "c"):
        assert [v for k, v in effects() if k == key] == list(range(20))


def test_the_same_message_delivered_three_times_has_one_effect(subscribe):
    # given a handled batch
    sub = subscribe("s", topics=("t.things",))
    sub.on(ThingHappened)(record("h"))
    emit(*(ThingHappened(thing_id=f"k{i}", n=i) for i in range(10)))
    drain_all(sub)
    # when it is delivered twice more (the checkpoint lost, the inbox kept)
    for _ in range(2):
        Checkpoint.objects.update(position=0)
        drain_all(sub)
    # then each message has exactly one effect
    assert Effect.objects.count() == 10
    assert len(set(Effect.objects.values_list("message_id", flat=True))) == 10


def test_batch_handler_gets_runs_of_messages_in_one_transaction(subscribe):
    sub = subscribe("s", topics=("t.things",), batch_size=50)
    sizes = []

    @sub.on(ThingHappened, batch=True)
    def handle(deliveries):
        sizes.append(len(deliveries))
        Effect.objects.bulk_create(
            Effect(label="h", key=d.message.thing_id, value=d.message.n)
            for d in deliveries
        )

    emit(*(ThingHappened(thing_id="same", n=i) for i in range(120)))
    drain_all(sub)
    assert sizes == [50, 50, 20]
    assert [v for _, v in effects()] == list(range(120))


def test_published_messages_keep_correlation_and_name_their_cause(subscribe):
    sub = subscribe("s", topics=("t.things",))

    @sub.handles(DoThing)
    def do_thing(command, ctx):
        ctx.publish(ThingHappened(thing_id=command.thing_id, n=1))

    (cmd,) = emit(DoThing(thing_id="a"))
    drain_all(sub)
    event = LogEntry.objects.get(type="t.ThingHappened")
    assert event.correlation_id == cmd.correlation_id
    assert event.causation_id == cmd.message_id


def test_failing_message_is_retried_in_place_and_holds_its_partition(subscribe):
    # given a handler that fails on n == 2, the first two times
    sub = subscribe(
        "s",
        topics=("t.things",),
        batch_size=10,
        backoff=Backoff(base=timedelta(hours=1)),
    )
    failures: list[int] = []

    @sub.on(ThingHappened)
    def handle(event, ctx):
        if event.n == 2 and len(failures) < 2:
            failures.append(ctx.envelope.offset)
            raise ValueError("flaky")
        Effect.objects.create(label="h", key=event.thing_id, value=event.n)

    emit(*(ThingHappened(thing_id="a", n=i) for i in range(5)))
    partition = partitions.partition_for("a")
    # when
    result = drain(sub, partition)
    # then the messages before the failure are committed, the rest wait for the retry
    assert effects() == [("a", 0), ("a", 1)]
    assert result.retry_at is not None and result.failures == 1
    checkpoint = Checkpoint.objects.get(subscription="s", partition=partition)
    assert checkpoint.attempts == 1 and "ValueError: flaky" in checkpoint.last_error
    # and nothing happens before the retry is due
    assert drain(sub, partition).handled == 0
    # when the retry is due (twice: it fails once more, then succeeds)
    for _ in range(2):
        Checkpoint.objects.update(retry_at=None)
        drain(sub, partition)
    # then everything is handled once, in order
    assert effects() == [("a", i) for i in range(5)]
    assert not DeadLetter.objects.exists()


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap():
    backoff = Backoff(base=timedelta(seconds=1), cap=timedelta(seconds=30))
    delays = [backoff.delay(n).total_seconds() for n in range(1, 8)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(30, 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling


def test_poison_message_is_parked_after_n_attempts_while_others_flow(subscribe):
    # given a handler that always fails on one message
    sub = subscribe("s", topics=("t.things",), max_attempts=3, backoff=NO_WAIT)
    broken = {"on": True}

    @sub.on(ThingHappened)
    def handle(event, ctx):
        if event.thing_id == "poison" and broken["on"]:
            raise KeyError("no such thing")
        Effect.objects.create(label="h", key=event.thing_id, value=event.n)

    emit(ThingHappened(thing_id="poison", n=0))
    emit(*(ThingHappened(thing_id=f"k{i}", n=i) for i in range(20)))
    # when
    _, results = drain_all(sub)
    # then it is parked with its error after 3 attempts, and everything else is handled
    letter = DeadLetter.objects.get()
    assert (letter.attempts, letter.status, letter.key) == (3, "parked", "poison")
    assert "KeyError" in letter.error and "no such thing" in letter.traceback
    assert sum(r.dead_lettered for r in results) == 1
    assert len(effects()) == 20
    # when the bug is fixed and the dead letter redriven, twice
    broken["on"] = False
    first = deadletters.redrive([letter.id])
    second = deadletters.redrive([letter.id])
    # then it is handled exactly once
    assert (first.handled, second.skipped) == ([letter.id], [letter.id])
    assert effects().count(("poison", 0)) == 1
    assert DeadLetter.objects.get().status == "redriven"


def test_a_redriven_letter_shows_its_partition_working(parked):
    # given a parked message whose handler is fixed, and its partition's record of
    # its last success cleared
    Checkpoint.objects.filter(subscription="cli").update(handled_at=None)
    # when it is redriven and handled
    report = deadletters.redrive([parked.id])
    # then its partition records the success, as a delivery by a drain does
    assert report.handled == [parked.id]
    checkpoint = Checkpoint.objects.get(subscription="cli", partition=parked.partition)
    assert checkpoint.handled_at is not None


def test_redrive_that_fails_again_keeps_the_letter_parked(subscribe):
    sub = subscribe("s", topics=("t.things",), max_attempts=1)

    @sub.on(ThingHappened)
    def handle(event, ctx):
        Effect.objects.create(label="h", key="x")
        raise RuntimeError("still broken")

    emit(ThingHappened(thing_id="a"))
    drain_all(sub)
    letter = DeadLetter.objects.get()
    report = deadletters.redrive([letter.id])
    letter.refresh_from_db()
    assert "still broken" in report.failed[letter.id]
    assert (letter.status, letter.attempts) == ("parked", 2)
    assert not Effect.objects.exists()  # the failed attempts' effects rolled back


def test_undecodable_payload_is_a_poison_message(subscribe):
    sub = subscribe("s", topics=("t.things",), max_attempts=2, backoff=NO_WAIT)
    sub.on(ThingHappened)(record("h"))
    emit(ThingHappened(thing_id="a", n=1))
    LogEntry.objects.update(payload={"thing_id": "a", "n": "not a number"})
    drain_all(sub)
    assert "ValidationError" in DeadLetter.objects.get().error


def test_outside_handler_runs_without_a_transaction_and_keeps_its_key(subscribe):
    # given an outside call that fails once, then succeeds
    sub = subscribe("s", topics=("t.things",), backoff=NO_WAIT)
    calls = []

    @sub.handles(DoThing, outside=True)
    def call_provider(command, ctx):
        calls.append((ctx.idempotency_key, connection.in_atomic_block))
        if len(calls) == 1:
            raise TimeoutError("provider timed out")
        ctx.publish(ThingHappened(thing_id=command.thing_id, n=99))

    (cmd,) = emit(DoThing(thing_id="a"))
    # when
    drain_all(sub)
    drain_all(sub)
    # then both calls used one key, outside any transaction, and the reply was recorded
    assert len(calls) == 2 and calls[0] == calls[1]
    assert calls[0] == (f"s:{cmd.message_id}", False)
    reply = LogEntry.objects.get(type="t.ThingHappened")
    assert reply.causation_id == cmd.message_id
    # and a redelivery does not call out again
    Checkpoint.objects.update(position=0)
    drain_all(sub)
    assert len(calls) == 2


def test_replay_handles_messages_again(subscribe):
    sub = subscribe("s", topics=("t.things",))
    sub.on(ThingHappened)(record("h"))
    emit(*(ThingHappened(thing_id=f"k{i}", n=i) for i in range(12)))
    drain_all(sub)
    # when
    moves = replay.seek(sub, to_offset=1)
    drain_all(sub)
    # then every message was handled twice
    assert all(m.after == 0 for m in moves)
    assert Effect.objects.count() == 24


def test_replay_since_a_time_starts_at_the_first_message_recorded_then(subscribe):
    sub = subscribe("s", topics=("t.things",))
    sub.on(ThingHappened)(record("h"))
    emit(ThingHappened(thing_id="a", n=1))
    emit(ThingHappened(thing_id="a", n=2))
    second = LogEntry.objects.get(payload__n=2)
    drain_all(sub)
    replay.seek(sub, since=second.recorded_at, partitions=[second.partition])
    assert (
        Checkpoint.objects.get(partition=second.partition).position == second.offset - 1
    )


def test_replay_rejects_offsets_past_the_head_and_bad_partitions(subscribe):
    sub = subscribe("s", topics=("t.things",))
    with pytest.raises(replay.ReplayError, match="past the head"):
        replay.seek(sub, to_offset=5)
    with pytest.raises(replay.ReplayError, match="does not exist"):
        replay.seek(sub, to_offset=1, partitions=[99])


def test_a_second_drain_of_the_same_partition_does_not_run(subscribe):
    sub = subscribe("s", topics=("t.things",))
    sub.on(ThingHappened)(record("h"))
    emit(ThingHappened(thing_id="a"))
    partition = partitions.partition_for("a")
    holding, release = threading.Event(), threading.Event()

    def hold():  # another thread: another connection, as another worker would be
        with drain_lock("s", partition) as held:
            assert held
            holding.set()
            release.wait(10)
        connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    result = drain(sub, partition)
    release.set()
    holder.join()
    assert result.busy and not Effect.objects.exists()
    assert drain(sub, partition).handled == 1


def test_new_subscription_starting_at_latest_skips_history(subscribe):
    emit(ThingHappened(thing_id="a", n=1))
    sub = subscribe("late", topics=("t.things",), start="latest")
    sub.on(ThingHappened)(record("h"))
    drain_all(sub)
    emit(ThingHappened(thing_id="a", n=2))
    drain_all(sub)
    assert effects() == [("a", 2)]


def test_a_parked_stream_event_keeps_its_stream_and_version(subscribe):
    # given an aggregate's event that its reader cannot handle
    sub = subscribe("s", topics=("t.tally",), max_attempts=1)

    @sub.on(Tallied)
    def handle(event, ctx):
        raise RuntimeError("broken")

    tally_id = uuid4()
    with transaction.atomic():
        (item,) = streams.append(
            f"tally-{tally_id}",
            [Tallied(tally_id=tally_id, amount=1)],
            expected_version=0,
        )
    # when it is parked
    drain(sub, item.partition)
    # then the dead letter's envelope is the message's, stream and version included
    envelope = DeadLetter.objects.get().envelope()
    assert (envelope.stream, envelope.stream_version) == (f"tally-{tally_id}", 1)
    assert envelope == LogEntry.objects.get(stream=envelope.stream).envelope()


def test_code_a_handler_calls_publishes_with_the_messages_correlation(subscribe):
    # given a handler that publishes through code it calls, not through ctx
    sub = subscribe("s", topics=("t.things",))

    @sub.handles(DoThing)
    def do_thing(command, ctx):
        publish(ThingHappened(thing_id=command.thing_id, n=2))

    (cmd,) = emit(DoThing(thing_id="a"))
    drain_all(sub)
    event = LogEntry.objects.get(type="t.ThingHappened")
    assert (event.correlation_id, event.causation_id) == (
        cmd.correlation_id,
        cmd.message_id,
    )


def test_a_batch_whose_stream_appends_collide_is_delivered_one_message_at_a_time(
    subscribe,
):
    # given a handler appending to a stream per key, reading the version it extends
    # from the store (which does not see appends buffered earlier in its transaction)
    sub = subscribe("s", topics=("t.things",))

    @sub.on(ThingHappened)
    def append(event, ctx):
        stream = f"thing-{event.thing_id}"
        streams.append(
            stream,
            [OtherHappened(thing_id=event.thing_id)],
            expected_version=streams.current_version(stream),
            verify=False,
        )

    emit(*(ThingHappened(thing_id="a", n=i) for i in range(3)))
    # when one drain reads all three in one batch
    handled, results = drain_all(sub)
    # then each was handled in its own transaction: three versions, no failure
    assert handled == 3 and not any(r.failures for r in results)
    versions = LogEntry.objects.filter(stream="thing-a").values_list(
        "stream_version", flat=True
    )
    assert sorted(versions) == [1, 2, 3]  # type: ignore[type-var]  # stream rows: set
