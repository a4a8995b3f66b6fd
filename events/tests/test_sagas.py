"""Orchestrated sagas: the happy path, each failure compensated in reverse order, a
missed deadline, an undo that never confirms (needs intervention, alert sent), and
late or duplicate replies that change nothing. SQLite and PostgreSQL."""

from datetime import timedelta
from io import StringIO

from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

import pytest
from pydantic import BaseModel

from events.delivery.drain import drain
from events.delivery.notices import MessageParked
from events.delivery.subscriptions import registry
from events.log.outbox import publish
from events.messages import Command, Event, message
from events.models import Checkpoint, LogEntry, SagaInstance
from events.sagas.deadlines import expire_overdue
from events.sagas.declaration import Saga, Step, check
from processes.waiting import wait_until

from .support import saga_parts
from .support.saga_parts import BEHAVIOUR, ThingHeld, ThingRequested

pytestmark = pytest.mark.django_db(transaction=True)
READERS = ("t.thing-saga", "t.saga-participant", "events.alerts")


@pytest.fixture(autouse=True)
def behaviour(settings):
    settings.ADMINS = [("Ops", "ops@example.com")]
    BEHAVIOUR.update(hold="ok", charge="ok", release="ok")
    yield BEHAVIOUR


def settle():
    """Deliver until no reader has anything left (or only retries waiting)."""
    while sum(
        drain(registry.get(name), partition).handled
        for name in READERS
        for partition in range(8)
    ):
        pass


def start(thing_id="t1", amount=5):
    with transaction.atomic():
        (item,) = publish(ThingRequested(thing_id=thing_id, amount=amount))
    settle()
    return item


def sent(*names):
    types = [f"t.saga.{n}" for n in names] if names else None
    rows = LogEntry.objects.order_by("id")
    if types:
        rows = rows.filter(type__in=types)
    return [r.type.rsplit(".", 1)[-1] for r in rows]


def instance(thing_id="t1"):
    return SagaInstance.objects.get(saga="t.thing-saga", key=thing_id)


def test_happy_path_sends_each_step_then_completes():
    first = start()
    assert sent("HoldThing", "ChargeThing", "FinishThing") == [
        "HoldThing",
        "ChargeThing",
        "FinishThing",
    ]
    assert instance().status == "completed"
    charge = LogEntry.objects.get(type="t.saga.ChargeThing")
    assert charge.payload == {"thing_id": "t1", "amount": 5, "hold_id": "h-t1"}
    transitions = LogEntry.objects.filter(topic="sagas").order_by("id")
    assert [t.type for t in transitions] == [
        "sagas.SagaStarted",
        "sagas.SagaStepCompleted",
        "sagas.SagaStepCompleted",
        "sagas.SagaCompleted",
    ]
    assert {t.correlation_id for t in transitions} == {first.correlation_id}


def test_a_failed_step_undoes_the_completed_ones_in_reverse():
    BEHAVIOUR["charge"] = "declined"
    start()
    assert sent("ReleaseThing", "AbandonThing") == ["ReleaseThing", "AbandonThing"]
    assert instance().status == "compensated"
    # and the list names the step it failed at, not the first it walked back to
    out = StringIO()
    call_command("events", "sagas", "list", "--status", "compensated", stdout=out)
    assert "2. ChargeThing" in out.getvalue().splitlines()[0]
    assert LogEntry.objects.get(type="t.saga.ReleaseThing").payload["hold_id"] == "h-t1"
    abandon = LogEntry.objects.get(type="t.saga.AbandonThing")
    assert abandon.payload["reason"] == "card declined"


def test_a_first_step_failing_has_nothing_to_undo():
    BEHAVIOUR["hold"] = "short"
    start()
    assert sent("ReleaseThing", "ChargeThing") == []
    assert instance().status == "compensated"
    assert sent("AbandonThing") == ["AbandonThing"]


def test_a_step_past_its_deadline_counts_as_failed():
    # given a participant that never answers
    BEHAVIOUR["hold"] = "silent"
    start()
    # when the sweep runs before, then after the deadline
    assert expire_overdue(now=timezone.now() + timedelta(minutes=1)) == 0
    assert expire_overdue(now=timezone.now() + timedelta(minutes=3)) == 1
    settle()
    # then the saga is compensated, with the reason
    assert instance().status == "compensated"
    assert "did not answer in time" in instance().reason


def test_an_undo_that_never_confirms_needs_intervention_and_alerts(caplog):
    # given a declined charge whose compensation keeps failing (retried meanwhile)
    BEHAVIOUR.update(charge="declined", release="broken")
    start()
    assert instance().status == "compensating"
    # when its deadline passes
    expire_overdue(now=timezone.now() + timedelta(minutes=3))
    settle()
    # then a person is needed, and told
    assert instance().status == "needs_attention"
    assert sent().count("ReleaseThing") == 1
    assert len(mail.outbox) == 1
    assert "t.thing-saga t1 needs intervention" in mail.outbox[0].subject
    assert "needs intervention" in caplog.text


def test_late_and_duplicate_replies_change_nothing():
    start()
    before = LogEntry.objects.count()
    with transaction.atomic():
        publish(ThingHeld(thing_id="t1", hold_id="again"))
        publish(ThingRequested(thing_id="t1", amount=5))
    settle()
    assert LogEntry.objects.count() == before + 2  # only the two replayed messages
    assert instance().status == "completed"
    assert instance().data["hold_id"] == "h-t1"


def test_the_declaration_subscribes_to_every_reply():
    handled = set(registry.get("t.thing-saga").handlers)
    assert handled == {
        m.wire_name
        for m in (
            saga_parts.ThingRequested,
            saga_parts.ThingCancelled,
            saga_parts.ThingHeld,
            saga_parts.ThingUnavailable,
            saga_parts.ThingReleased,
            saga_parts.ThingCharged,
            saga_parts.ChargeDeclined,
            MessageParked,  # a parked command is an answer too
        )
    }


def test_the_in_process_sweep_expires_overdue_steps(dispatcher):
    # given a saga waiting on a participant that never answers
    BEHAVIOUR["hold"] = "silent"
    start()  # the dispatcher's threads may be the ones that deliver it: wait for them
    wait_until(lambda: sent("HoldThing") == ["HoldThing"], "the first step", timeout=10)
    # when its deadline is already past
    SagaInstance.objects.update(deadline=timezone.now() - timedelta(seconds=1))
    # then the dispatcher's sweep (every 0.5 s in tests) fails the step
    wait_until(
        lambda: instance().status == "compensated", "the sweep to expire it", timeout=10
    )


@pytest.fixture
def stuck():
    """A saga whose undo never confirmed: it needs a person."""
    BEHAVIOUR.update(charge="declined", release="broken")
    start()
    expire_overdue(now=timezone.now() + timedelta(minutes=3))
    settle()
    assert instance().status == "needs_attention"
    return instance()


def test_staff_retry_sends_the_undo_again_and_the_saga_finishes(stuck):
    # given the hold service works again
    BEHAVIOUR["release"] = "ok"
    # when staff retry from the CLI
    out = StringIO()
    call_command("events", "sagas", "retry", str(stuck.id), stdout=out)
    Checkpoint.objects.update(retry_at=None)  # the old failing release's retry is due
    settle()
    # then the undo is sent again, confirmed, and the saga compensated
    assert f"saga {stuck.id} t1: now compensating" in out.getvalue()
    assert instance().status == "compensated"
    assert sent("ReleaseThing").count("ReleaseThing") == 2


def test_staff_resolve_closes_the_saga_and_sends_nothing(stuck, admin_client):
    before = LogEntry.objects.count()
    url = reverse("admin:events_sagainstance_changelist")
    chosen = {"action": "resolve", "_selected_action": [stuck.id]}
    # the action first asks what was done, and refuses an empty note
    asked = admin_client.post(url, chosen)
    assert b"What was done" in asked.content
    refused = admin_client.post(url, {**chosen, "apply": "Resolve", "note": " "})
    assert b"the note is required" in refused.content
    assert instance().status == "needs_attention"
    # then resolves with the note staff typed, signed
    response = admin_client.post(
        url,
        {**chosen, "apply": "Resolve", "note": "released the hold by phone"},
        follow=True,
    )
    assert b"Resolved 1 sagas." in response.content
    assert instance().status == "resolved"
    assert instance().reason.endswith(
        "resolved by hand: released the hold by phone (by admin)"
    )
    assert LogEntry.objects.count() == before


def test_staff_actions_refuse_a_saga_that_needs_nothing():
    start()  # completed
    with pytest.raises(CommandError, match="is completed, not needs_attention"):
        call_command("events", "sagas", "retry", str(instance().id))
    with pytest.raises(CommandError, match="no saga with id 424242"):
        call_command("events", "sagas", "resolve", "424242", "--note", "x")
    out = StringIO()
    call_command("events", "sagas", "list", "--status", "any", stdout=out)
    assert "t.thing-saga" in out.getvalue() and "1 sagas" in out.getvalue()


def test_saga_list_says_which_status_it_shows_and_how_many_there_are_in_all():
    # given two completed sagas and none needing attention
    start("t1")
    start("t2")
    # when an operator lists sagas without a filter
    out = StringIO()
    call_command("events", "sagas", "list", stdout=out)
    # then the output says it filtered, and how to see them all
    assert out.getvalue().strip().splitlines()[-1] == (
        "0 sagas with status needs_attention "
        "(of 2 in all; --status any lists every one)"
    )


def test_an_undo_confirmed_late_still_finishes_the_compensation(stuck):
    # given the hold service works again, and the platform's retry of the release
    BEHAVIOUR["release"] = "ok"
    Checkpoint.objects.update(retry_at=None)
    # when it is delivered
    settle()
    # then the late confirmation moves the saga on, without staff
    assert instance().status == "compensated"


def cancel(thing_id="t1"):
    with transaction.atomic():
        publish(saga_parts.ThingCancelled(thing_id=thing_id, reason="changed my mind"))
    settle()


def test_cancelling_a_running_saga_undoes_what_it_did_and_sends_no_abandon(behaviour):
    # given a saga whose hold is done and whose charge is in flight
    behaviour["charge"] = "silent"
    start()
    assert instance().status == "running" and instance().step == 1
    # when the thing is cancelled
    cancel()
    # then the hold is released (the charge has no undo), the saga is compensated with
    # the cancellation as its reason, and AbandonThing is not sent: it was cancelled
    assert sent("ReleaseThing", "AbandonThing") == ["ReleaseThing"]
    saga = instance()
    assert saga.status == "compensated"
    assert saga.reason == "cancelled: changed my mind"
    assert "sagas.SagaCancelled" in LogEntry.objects.values_list("type", flat=True)


def test_cancelling_a_completed_saga_undoes_every_step():
    start()
    assert instance().status == "completed"
    cancel()
    assert sent("ReleaseThing") == ["ReleaseThing"]
    assert instance().status == "compensated"


def test_a_cancellation_of_a_saga_already_compensating_changes_nothing(behaviour):
    # given a saga compensating a declined charge, whose release is failing
    behaviour.update(charge="declined", release="broken")
    start()
    assert instance().status == "compensating"
    releases = sent("ReleaseThing")
    # when cancelled meanwhile
    cancel()
    # then nothing new is sent and the saga still waits for its undo
    assert sent("ReleaseThing") == releases
    assert instance().status == "compensating" and instance().reason == "card declined"


def test_saga_list_filters_as_the_admin_and_show_tells_the_steps_by_name():
    # given two completed sagas
    start("t1")
    start("t2")
    # when an operator lists them by key, and by a saga that does not exist
    out = StringIO()
    call_command(
        "events", "sagas", "list", "--status", "any", "--key", "t2", stdout=out
    )
    (line, total) = out.getvalue().strip().splitlines()
    assert " t2 " in line and "2. ChargeThing" in line and total == "1 sagas"
    with pytest.raises(CommandError, match="no saga named 'nope'"):
        call_command("events", "sagas", "list", "--saga", "nope")
    # then show prints each step by name, the state and the timeline
    shown = StringIO()
    call_command("events", "sagas", "show", str(instance("t2").id), stdout=shown)
    text = shown.getvalue()
    assert "completed" in text and "1. HoldThing" in text and "2. ChargeThing" in text
    assert "hold_id" in text and "t.saga.FinishThing" in text


def test_a_resolve_note_must_say_something(stuck):
    with pytest.raises(CommandError, match="--note must say what was done"):
        call_command("events", "sagas", "resolve", str(stuck.id), "--note", "  ")
    assert instance().status == "needs_attention"


def test_the_saga_page_names_the_steps_shows_the_state_and_resolves_with_a_note(
    stuck, admin_client
):
    # the list names the step, not its index
    listing = admin_client.get(reverse("admin:events_sagainstance_changelist"))
    assert b"1. HoldThing" in listing.content
    # the saga's page: steps by name, the timeline, the state as fields
    page = admin_client.get(
        reverse("admin:events_sagainstance_change", args=[stuck.id])
    )
    text = page.content.decode()
    view = page.context["saga"]
    assert [(s.name, s.state) for s in view.steps] == [
        ("HoldThing", "undoing"),
        ("ChargeThing", "failed"),
    ]
    assert "t.saga.ReleaseThing" in text and "not confirmed" in text
    assert 'id="saga-state"' in text and "<th>hold_id</th><td>h-t1</td>" in text
    assert "Retry the undo of HoldThing" in text
    # resolving from the page needs a note
    url = reverse("admin:events_sagainstance_resolve", args=[stuck.id])
    refused = admin_client.post(url, {"note": ""}, follow=True)
    assert b"the note is required" in refused.content
    assert instance().status == "needs_attention"
    done = admin_client.post(url, {"note": "released by hand"}, follow=True)
    assert b"now resolved" in done.content
    assert instance().reason.endswith("released by hand (by admin)")


# --- the declaration check: every command field from the state --------------------


class Spot(BaseModel):
    city: str


class Depot(BaseModel):
    name: str


@message("t.saga.ShipIt", topic="t.saga", key="thing_id")
class ShipIt(Command):
    thing_id: str
    spot: Spot


@message("t.saga.ThingAt", topic="t.saga", key="thing_id")
class ThingAt(Event):
    thing_id: str
    spot: Depot  # a model, but not one with a city


def shipping_saga(done: type[Event]) -> type[Saga]:
    class ShipSaga(Saga):
        name = "t.ship-saga"
        started_by = saga_parts.ThingRequested
        correlate_on = "thing_id"
        steps = (
            Step(send=saga_parts.HoldThing, done=done, title="the hold service"),
            Step(send=ShipIt, done=saga_parts.ThingCharged, title="the ship service"),
        )

    return ShipSaga


def test_a_saga_whose_state_cannot_supply_a_command_field_is_refused_when_declared():
    # a field the state does not hold at all
    with pytest.raises(ImproperlyConfigured) as missing:
        check(shipping_saga(saga_parts.ThingHeld))
    assert "step 1 (ShipIt): ShipIt.spot (the state has no 'spot')" in str(
        missing.value
    )
    # a nested field the state's model does not have
    with pytest.raises(ImproperlyConfigured) as nested:
        check(shipping_saga(ThingAt))
    assert "ShipIt.spot.city (the state has no 'city')" in str(nested.value)
