"""A two-step saga and its participants for the platform's tests (no shop meaning):
hold a thing, then charge for it; undo the hold if the charge fails. Participants
answer as the test steers them through ``BEHAVIOUR``."""

from datetime import timedelta

from events.delivery.subscriptions import Subscription
from events.messages import Command, Event, message
from events.sagas.declaration import Saga, Step
from events.sagas.registry import saga


def _msg(name, base, **fields):
    cls = type(name, (base,), {"__annotations__": {"thing_id": str, **fields}})
    for field, annotation in fields.items():
        if "None" in str(annotation):
            setattr(cls, field, None)
    return message(f"t.saga.{name}", topic="t.saga", key="thing_id")(cls)


ThingRequested = _msg("ThingRequested", Event, amount=int)
HoldThing = _msg("HoldThing", Command)
ThingHeld = _msg("ThingHeld", Event, hold_id=str)
ThingUnavailable = _msg("ThingUnavailable", Event, reason=str)
ReleaseThing = _msg("ReleaseThing", Command, hold_id=str)
ThingReleased = _msg("ThingReleased", Event)
ChargeThing = _msg("ChargeThing", Command, amount=int, hold_id=str)
ThingCharged = _msg("ThingCharged", Event)
ChargeDeclined = _msg("ChargeDeclined", Event, reason=str)
FinishThing = _msg("FinishThing", Command)
AbandonThing = _msg("AbandonThing", Command, reason=str)
ThingCancelled = _msg("ThingCancelled", Event, reason=str)


@saga
class ThingSaga(Saga):
    name = "t.thing-saga"
    started_by = ThingRequested
    correlate_on = "thing_id"
    steps = (
        Step(
            send=HoldThing,
            title="the hold service",
            done=ThingHeld,
            failed=(ThingUnavailable,),
            undo=ReleaseThing,
            undone=ThingReleased,
            within=timedelta(minutes=2),
        ),
        Step(
            send=ChargeThing,
            title="the charge service",
            done=ThingCharged,
            failed=(ChargeDeclined,),
            within=timedelta(minutes=5),
        ),
    )
    on_completed, on_compensated = FinishThing, AbandonThing
    cancelled_by = ThingCancelled


BEHAVIOUR = {"hold": "ok", "charge": "ok", "release": "ok"}
participant = Subscription("t.saga-participant", topics=("t.saga",))


@participant.handles(HoldThing)
def hold(command, ctx):
    if BEHAVIOUR["hold"] == "ok":
        ctx.publish(
            ThingHeld(thing_id=command.thing_id, hold_id=f"h-{command.thing_id}")
        )
    elif BEHAVIOUR["hold"] == "short":
        ctx.publish(ThingUnavailable(thing_id=command.thing_id, reason="none left"))
    # "silent": never answers


@participant.handles(ChargeThing)
def charge(command, ctx):
    if BEHAVIOUR["charge"] == "ok":
        ctx.publish(ThingCharged(thing_id=command.thing_id))
    elif BEHAVIOUR["charge"] == "declined":
        ctx.publish(ChargeDeclined(thing_id=command.thing_id, reason="card declined"))
    elif BEHAVIOUR["charge"] == "broken":
        raise ConnectionError(f"the charge service is down for {command.thing_id}")


@participant.handles(ReleaseThing)
def release(command, ctx):
    if BEHAVIOUR["release"] == "broken":
        raise ConnectionError("the hold service is down")
    ctx.publish(ThingReleased(thing_id=command.thing_id))
