"""The delivery counters and histograms (``events.meters``): counted once per fact,
after its transaction commits; a redelivery the inbox skips, or a batch rolled back and
redone, counts nothing twice. Drains are called directly: each step is deterministic.

Runs on SQLite and, in the PostgreSQL pass, on PostgreSQL."""

from datetime import timedelta

from django.db import transaction

import pytest
from prometheus_client import REGISTRY

from events.delivery import deadletters
from events.delivery.drain import drain
from events.delivery.retries import Backoff
from events.log import journeys, partitions
from events.log.outbox import publish
from events.models import Checkpoint, DeadLetter
from tests.effects.models import Effect

from .support.messages import DoThing, OtherHappened, ThingHappened

pytestmark = pytest.mark.django_db(transaction=True)
NO_WAIT = Backoff(base=timedelta(0), cap=timedelta(0))


def emit(*messages):
    with transaction.atomic():
        return publish(*messages)


def drain_all(subscription):
    for partition in range(8):
        drain(subscription, partition)


def value(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Counts:
    """The subscription's counters now, to compare with their values later (the
    registry is the test process's, shared by every test)."""

    NAMES = (
        "events_messages_handled_total",
        "events_messages_failed_total",
        "events_messages_retried_total",
        "events_messages_dead_lettered_total",
        "events_handler_duration_seconds_count",
        "events_handled_latency_seconds_count",
    )

    def __init__(self, subscription):
        self.subscription = subscription
        self.before = self.now()

    def now(self):
        return {
            name: value(name, subscription=self.subscription) for name in self.NAMES
        }

    def added(self):
        now = self.now()
        return {
            name.removeprefix("events_").removesuffix("_total"): now[name]
            - self.before[name]
            for name in self.NAMES
        }


def test_each_handled_message_is_counted_once_and_a_redelivery_not_at_all(subscribe):
    # given ten handled messages
    sub = subscribe("m.once", topics=("t.things",))

    @sub.on(ThingHappened)
    def handle(event, ctx):
        Effect.objects.create(label="m", key=event.thing_id)

    counts = Counts("m.once")
    emit(*(ThingHappened(thing_id=f"k{i}", n=i) for i in range(10)))
    drain_all(sub)
    # when they are delivered again (the checkpoint lost, the inbox kept)
    Checkpoint.objects.update(position=0)
    drain_all(sub)
    # then each is counted once, with its latency and its handler's time
    added = counts.added()
    assert added["messages_handled"] == 10
    assert added["handled_latency_seconds_count"] == 10
    assert added["handler_duration_seconds_count"] == 10
    assert Effect.objects.count() == 10


def test_a_batch_rolled_back_and_redone_one_by_one_counts_each_message_once(
    subscribe,
):
    # given a batch whose fourth message fails twice (in the batch, then alone)
    sub = subscribe("m.batch", topics=("t.things",), batch_size=10, backoff=NO_WAIT)
    failed: list[int] = []

    @sub.on(ThingHappened)
    def handle(event, ctx):
        if event.n == 3 and len(failed) < 2:
            failed.append(event.n)
            raise ValueError("twice")

    counts = Counts("m.batch")
    emit(*(ThingHappened(thing_id="a", n=i) for i in range(6)))
    partition = partitions.partition_for("a")
    # when drained (the batch rolls back, three commit one by one, the fourth fails),
    # then retried
    drain(sub, partition)
    Checkpoint.objects.update(retry_at=None)
    drain(sub, partition)
    # then six handled, one failure and its retry
    added = counts.added()
    assert added["messages_handled"] == 6
    assert added["messages_failed"] == 1
    assert added["messages_retried"] == 1
    assert added["messages_dead_lettered"] == 0


def test_spent_attempts_count_failures_and_one_dead_letter(subscribe):
    # given a message that always fails, with three attempts
    sub = subscribe("m.poison", topics=("t.things",), max_attempts=3, backoff=NO_WAIT)

    @sub.on(ThingHappened)
    def handle(event, ctx):
        raise ValueError("poison")

    counts = Counts("m.poison")
    emit(ThingHappened(thing_id="p"))
    partition = partitions.partition_for("p")
    # when drained until it is parked
    for _ in range(3):
        drain(sub, partition)
        Checkpoint.objects.update(retry_at=None)
    # then three failures, two retries, one dead letter
    assert DeadLetter.objects.filter(subscription="m.poison").count() == 1
    added = counts.added()
    assert (added["messages_failed"], added["messages_retried"]) == (3, 2)
    assert added["messages_dead_lettered"] == 1
    assert added["messages_handled"] == 0


def test_a_redriven_dead_letter_counts_as_handled_once(subscribe):
    # given a parked message whose handler is fixed
    sub = subscribe("m.redrive", topics=("t.things",), max_attempts=1)
    state = {"broken": True}

    @sub.on(ThingHappened)
    def handle(event, ctx):
        if state["broken"]:
            raise ValueError("broken")

    emit(ThingHappened(thing_id="r"))
    drain(sub, partitions.partition_for("r"))
    letter = DeadLetter.objects.get(subscription="m.redrive")
    state["broken"] = False
    counts = Counts("m.redrive")
    # when it is redriven twice
    deadletters.redrive([letter.id])
    deadletters.redrive([letter.id])
    # then it is handled once
    assert counts.added()["messages_handled"] == 1


def test_an_outside_call_is_counted_when_its_result_is_recorded(subscribe):
    # given an outside handler, in a window of two calls
    sub = subscribe("m.outside", topics=("t.things",), concurrency=2)

    @sub.handles(DoThing, outside=True)
    def call(cmd, ctx):
        ctx.publish(OtherHappened(thing_id=cmd.thing_id))

    counts = Counts("m.outside")
    emit(*(DoThing(thing_id=f"o{i}") for i in range(4)))
    # when drained, then delivered again
    drain_all(sub)
    Checkpoint.objects.update(position=0)
    drain_all(sub)
    # then each call is counted once
    added = counts.added()
    assert added["messages_handled"] == 4
    assert added["handler_duration_seconds_count"] == 4


@pytest.fixture
def things_journey():
    declared = journeys.journey("t.done", start=ThingHappened, ends=(OtherHappened,))
    yield declared
    for end in declared.ends:
        journeys._by_end.pop(end, None)


def test_a_journey_is_observed_once_from_its_start_to_its_first_end(things_journey):
    # given a key that started, and one that never did
    journey = {"journey": "t.done", "end": "t.OtherHappened"}
    before = value("events_journey_seconds_count", **journey)
    emit(ThingHappened(thing_id="j1"))
    # when each ends, the started one twice
    emit(OtherHappened(thing_id="j1"))
    emit(OtherHappened(thing_id="j1"))
    emit(OtherHappened(thing_id="never-started"))
    # then one journey is observed
    assert value("events_journey_seconds_count", **journey) - before == 1


def test_a_journey_rolled_back_is_not_observed(things_journey):
    journey = {"journey": "t.done", "end": "t.OtherHappened"}
    before = value("events_journey_seconds_count", **journey)
    emit(ThingHappened(thing_id="j2"))
    with pytest.raises(RuntimeError), transaction.atomic():
        publish(OtherHappened(thing_id="j2"))
        raise RuntimeError("rolled back")
    assert value("events_journey_seconds_count", **journey) == before
