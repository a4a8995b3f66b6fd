"""What the staff console reads and does, below its pages: dead letters grouped by
the shape of their failure, a group redriven one letter first, a redrive told when the
saga that sent the command has ended, checkpoints worst first, and a saga told as its
steps by name and a timeline. SQLite and PostgreSQL."""

from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.db import transaction

import pytest

from events.delivery.drain import drain
from events.delivery.subscriptions import registry
from events.log.outbox import publish
from events.log.partitions import partition_for
from events.log.reader import heads
from events.models import DeadLetter, SagaInstance
from events.ops import failure_groups, lag, redrive
from events.ops.saga_views import saga_views, state_fields
from tests.effects.models import Effect

from .support import saga_parts
from .support.messages import Renamed, ThingHappened
from .support.saga_parts import BEHAVIOUR, ThingRequested

pytestmark = pytest.mark.django_db(transaction=True)
SAGA_READERS = ("t.thing-saga", "t.saga-participant", "events.alerts")


@pytest.mark.parametrize(
    ("error", "cls", "shape"),
    [
        (
            "ProviderTimeout: no answer within 2000 ms",
            "ProviderTimeout",
            "no answer within <n> ms",
        ),
        (
            "KeyError: 'b6f1d1f0-7a43-4f56-9d6e-3c1c1f4d2a10'",
            "KeyError",
            "'…'",
        ),
        (
            "ConnectionError: order 0b8c2f1e-1d2a-4b9e-8f3a-2d6c1e9f7a55 at 10.0.0.7",
            "ConnectionError",
            "order <id> at <n>",
        ),
        (
            "ValueError: shipment TRKSNSCVMYPLU of ch_0f9cd0c88db1 refused\nTraceback",
            "ValueError",
            "shipment TRKSNSCVMYPLU of <ref> refused",
        ),
        ("something odd happened", "", "something odd happened"),
    ],
)
def test_a_failures_shape_leaves_out_what_varies_between_messages(error, cls, shape):
    assert failure_groups.error_class(error) == cls
    assert failure_groups.shape(error) == shape


def failing(subscribe, name="console"):
    """A subscription that parks every message at its first failure, until fixed."""
    sub = subscribe(name, topics=("t.things",), max_attempts=1)
    state = {"broken": True}

    @sub.on(ThingHappened)
    def handle(event, ctx):
        if event.thing_id.startswith("odd"):
            raise KeyError(event.thing_id)
        if state["broken"]:
            raise ConnectionError(
                f"the store is down for thing {event.thing_id} after {event.n} ms"
            )
        Effect.objects.create(label=name, key=event.thing_id)

    return sub, state


def park(sub, *things):
    for thing_id, n in things:
        with transaction.atomic():
            publish(ThingHappened(thing_id=thing_id, n=n))
        drain(sub, partition_for(thing_id))


def test_dead_letters_group_by_subscription_type_error_class_and_shape(subscribe):
    # given three letters failing the same way (different things and timings) and one
    # failing another way
    sub, _ = failing(subscribe)
    park(sub, ("t-1", 10), ("t-2", 250), ("odd-1", 0), ("t-3", 9))
    # when staff look at them by failure
    groups = failure_groups.groups()
    # then the three are one group, oldest letter first, with first and last seen
    assert [(g.count, g.error_class) for g in groups] == [
        (3, "ConnectionError"),
        (1, "KeyError"),
    ]
    big = groups[0]
    assert (big.subscription, big.type) == ("console", "t.ThingHappened")
    assert big.shape == "the store is down for thing t-<n> after <n> ms"
    letters = DeadLetter.objects.filter(id__in=big.letter_ids).order_by("parked_at")
    assert big.letter_ids == [letter.id for letter in letters]
    assert (big.first_seen, big.last_seen) == (
        letters.earliest("parked_at").parked_at,
        letters.latest("parked_at").parked_at,
    )
    assert big.keys == ["t-1", "t-2", "t-3"]
    assert "t-3 after 9 ms" in big.example
    assert failure_groups.find(big.id).letter_ids == big.letter_ids


def test_a_group_redrive_sends_one_first_and_the_rest_only_if_it_was_handled(
    subscribe,
):
    # given a group of three parked letters, and the failure not over
    sub, state = failing(subscribe)
    park(sub, ("t-1", 1), ("t-2", 2), ("t-3", 3))
    (group,) = failure_groups.groups()
    first, *rest = group.letter_ids
    # when staff redrive the group
    done = redrive.redrive_group(group.id)
    # then only the first was sent: it failed, the others were held back untouched
    assert list(done.failed) == [first] and done.held_back == rest
    attempts = dict(DeadLetter.objects.values_list("id", "attempts"))
    assert attempts[first] == 2 and {attempts[i] for i in rest} == {1}
    # when the failure is over and they redrive it again
    state["broken"] = False
    done = redrive.redrive_group(group.id)
    # then all three are handled, each once
    assert done.handled == group.letter_ids and not done.failed
    assert sorted(Effect.objects.values_list("key", flat=True)) == ["t-1", "t-2", "t-3"]
    assert failure_groups.groups() == []


def settle():
    while sum(
        drain(registry.get(name), partition).handled
        for name in SAGA_READERS
        for partition in range(8)
    ):
        pass


@pytest.fixture
def behaviour(settings):
    settings.ADMINS = [("Ops", "ops@example.com")]
    BEHAVIOUR.update(hold="ok", charge="ok", release="ok")
    yield BEHAVIOUR
    BEHAVIOUR.update(hold="ok", charge="ok", release="ok")


def start(thing_id="t1"):
    with transaction.atomic():
        publish(ThingRequested(thing_id=thing_id, amount=5))
    settle()


def test_a_command_parked_after_its_saga_ended_is_sent_only_when_staff_insist(
    behaviour, monkeypatch
):
    # given a charge parked: its saga takes that as the step's answer and compensates
    monkeypatch.setattr(saga_parts.participant, "max_attempts", 1)
    behaviour["charge"] = "broken"
    start()
    settle()
    letter = DeadLetter.objects.get(type="t.saga.ChargeThing")
    saga = SagaInstance.objects.get(key="t1")
    assert saga.status == "compensated"
    # then a redrive says so and sends nothing
    warning = redrive.warnings([letter.id])[letter.id]
    assert "t.saga.ChargeThing was sent by saga t.thing-saga t1" in warning
    assert "has ended (compensated" in warning
    assert warning.endswith("would act on a finished thing")
    done = redrive.redrive([letter.id])
    assert done.refused == {letter.id: warning} and done.sent == 0
    letter.refresh_from_db()
    assert (letter.status, letter.attempts) == ("parked", 1)
    # unless staff insist
    behaviour["charge"] = "ok"
    done = redrive.redrive([letter.id], ended="include")
    assert done.handled == [letter.id]


def test_an_event_parked_by_a_reader_carries_no_saga_warning(subscribe):
    sub, _ = failing(subscribe)
    park(sub, ("t-1", 1))
    assert redrive.warnings(DeadLetter.objects.values_list("id", flat=True)) == {}


def test_checkpoints_by_lag_show_head_lag_and_retrying_worst_first(subscribe):
    # given two readers of one topic: one caught up, one behind by three, one failing
    ahead = subscribe("lag-ahead", topics=("t.things",))
    behind = subscribe("lag-behind", topics=("t.things",))
    stuck = subscribe("lag-stuck", topics=("t.things",))
    ahead.on(ThingHappened)(lambda event, ctx: None)
    behind.on(ThingHappened)(lambda event, ctx: None)

    @stuck.on(ThingHappened)
    def fail(event, ctx):
        raise ConnectionError("down")

    for n in range(3):
        with transaction.atomic():
            publish(ThingHappened(thing_id="a", n=n))
    # and, last, a message on their topic that none of them handles: it is no lag
    with transaction.atomic():
        publish(Renamed(thing_id="a", first="A", last="B", title=""))
    partition = partition_for("a")
    drain(ahead, partition)
    drain(stuck, partition)
    # when staff look at the checkpoints
    rows = lag.checkpoint_lags()
    # then the most behind come first, with the partition's head and the lag
    mine = [r for r in rows if r.subscription.startswith("lag-")]
    top = [(r.subscription, r.lag) for r in mine if r.partition == partition]
    assert top == [("lag-behind", 3), ("lag-stuck", 3), ("lag-ahead", 0)]
    assert rows[0].subscription in ("lag-behind", "lag-stuck") and rows[0].lag == 3
    by_name = {r.subscription: r for r in mine if r.partition == partition}
    assert by_name["lag-behind"].head == heads()[partition]
    assert by_name["lag-behind"].lag_seconds >= 0
    assert by_name["lag-stuck"].retrying and by_name["lag-stuck"].attempts == 1
    assert "ConnectionError: down" in by_name["lag-stuck"].last_error
    assert not by_name["lag-behind"].retrying
    assert by_name["lag-ahead"].position == heads()[partition]
    # and none is paused; a pause shows on every partition of its subscription
    assert by_name["lag-ahead"].paused == ""
    call_command(
        "events", "pause", "lag-ahead", "--reason", "upgrade", stdout=StringIO()
    )
    paused = [r for r in lag.checkpoint_lags() if r.subscription == "lag-ahead"]
    assert all(r.paused.startswith("paused: upgrade since ") for r in paused)


def test_a_saga_view_names_its_steps_and_tells_what_happened(behaviour):
    # given a saga whose charge was declined, so its hold was undone
    behaviour["charge"] = "declined"
    start()
    # when staff read it
    (view,) = saga_views("t1")
    # then each step has its name, command, answer, deadline and compensation
    assert view.status == "compensated" and view.ended
    assert [(s.name, s.state) for s in view.steps] == [
        ("HoldThing", "undone"),
        ("ChargeThing", "failed"),
    ]
    hold, charge = view.steps
    assert hold.sent and hold.answer and hold.undo and hold.undone and charge.answer
    assert hold.sent.type == "t.saga.HoldThing"
    assert hold.answer.type == "t.saga.ThingHeld"
    assert hold.deadline == hold.sent.at + timedelta(minutes=2)
    assert (hold.undo.type, hold.undone.type) == (
        "t.saga.ReleaseThing",
        "t.saga.ThingReleased",
    )
    assert [r.state for r in hold.sent.receipts] == ["handled"]
    assert charge.answer.type == "t.saga.ChargeDeclined"
    assert charge.answer.details == "reason=card declined"
    assert charge.failed_reason == "card declined"
    # and the timeline tells it in the order it was written
    assert [m.type.rsplit(".", 1)[-1] for m in view.timeline] == [
        "ThingRequested",
        "SagaStarted",
        "HoldThing",
        "ThingHeld",
        "SagaStepCompleted",
        "ChargeThing",
        "ChargeDeclined",
        "SagaStepFailed",
        "SagaCompensating",
        "ReleaseThing",
        "ThingReleased",
        "SagaCompensated",
        "AbandonThing",
    ]
    # and its state as fields
    assert ("amount", "5") in view.fields and ("hold_id", "h-t1") in view.fields


def test_state_fields_flatten_nested_objects_and_lists():
    data = {
        "order_id": "o1",
        "address": {"city": "Paris", "line2": None},
        "lines": [{"sku": "MUG", "quantity": 2}],
        "paid": True,
    }
    assert state_fields(data) == [
        ("order_id", "o1"),
        ("address.city", "Paris"),
        ("address.line2", "null"),
        ("lines[0].sku", "MUG"),
        ("lines[0].quantity", "2"),
        ("paid", "true"),
    ]
