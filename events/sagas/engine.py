"""Running a declared saga: the reactions that move an instance.

An instance's state is a row (keyed by saga and correlation value), changed only inside
the transaction of the reply that caused the change, so a killed worker leaves it
either before or after a transition, never half way; every transition is also
published (``events.sagas.transitions``). A late or duplicate reply (for another step,
or for an instance that has moved on) changes nothing.

A failed step starts the compensation of the completed steps in reverse order, one at a
time. A step past its deadline fails too, and is undone with them: its command may
still take effect (a charge answered after the saga gave up), and the undo, sent to the
same key, is handled after it. An undo that does not confirm by its deadline marks the
saga ``needs_attention`` and publishes SagaNeedsIntervention, which raises an alert
(``events.sagas.alerts``).

``cancelled_by`` names an event that calls the saga off (a customer's cancellation): a
running saga undoes its finished steps and the one in flight, a completed one all of
its steps; neither sends ``on_compensated`` (the cancellation already says how the
business transaction ended). A saga already compensating or finished ignores it.
Participants must therefore answer an undo of something they never did (release of no
stock, refund of no charge) with its confirmation.

A command the saga sent that is parked as a dead letter is an answer too
(``on_parked``): no reply will come, so the step fails at once (and is undone with the
others: the command may have taken effect before it failed), and a parked undo needs a
person at once, instead of both waiting for their deadline.

Reasons are in words people read, built from the step's ``title`` or taken from the
failure event's ``reason``, each with a stable ``code`` beside it (the failure event's
``code`` if it has one): the saga gives both to ``on_compensated``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from ..delivery.notices import MessageParked
from ..delivery.subscriptions import Context
from ..messages import Event
from ..models import DeadLetter, SagaInstance
from .declaration import Publish, Saga, Step, build
from .transitions import (
    SagaCancelled,
    SagaCompensated,
    SagaCompensating,
    SagaCompleted,
    SagaNeedsIntervention,
    SagaStarted,
    SagaStepCompleted,
    SagaStepFailed,
)

Status = SagaInstance.Status
CANCELLED = "_cancelled"  # in an instance's data: called off by ``cancelled_by``
# In an instance's data: why it gave up (what on_compensated says), and at which step
# (its step index walks back to 0 as it undoes).
GAVE_UP = "_gave_up"


@dataclass(frozen=True)
class Reason:
    """Why a saga gives up: a sentence for people, and a stable machine code."""

    text: str
    code: str

    @classmethod
    def timed_out(cls, step: Step) -> Reason:
        return cls(f"{step.title} did not answer in time", f"{step.code}_timed_out")

    @classmethod
    def failed(cls, step: Step) -> Reason:
        return cls(f"{step.title} failed and could not finish", f"{step.code}_failed")

    @classmethod
    def refused(cls, step: Step, event: Event) -> Reason:
        """From the failure event: its ``reason`` and ``code`` when it has them."""
        text = str(getattr(event, "reason", "") or f"{step.title} refused")
        return cls(text, str(getattr(event, "code", "") or f"{step.code}_refused"))


def start(saga: type[Saga], event: Event, ctx: Context) -> None:
    key = str(getattr(event, saga.correlate_on))
    data = event.model_dump(mode="json")
    instance, created = SagaInstance.objects.get_or_create(
        saga=saga.name,
        key=key,
        defaults={"data": data, "correlation_id": ctx.correlation_id},
    )
    if not created:
        return  # a redelivered or duplicate start
    ctx.publish(SagaStarted(saga=saga.name, key=key))
    _send_step(saga, instance, 0, ctx.publish)


def on_done(saga: type[Saga], index: int, event: Event, ctx: Context) -> None:
    instance = _instance(saga, event)
    if instance is None or instance.status != Status.RUNNING or instance.step != index:
        return  # late, duplicate, or for a saga that moved on
    step = saga.steps[index]
    instance.data = {**instance.data, **event.model_dump(mode="json")}
    ctx.publish(SagaStepCompleted(saga=saga.name, key=instance.key, step=step.name))
    if index + 1 < len(saga.steps):
        _send_step(saga, instance, index + 1, ctx.publish)
        return
    instance.status, instance.deadline = Status.COMPLETED, None
    instance.save()
    ctx.publish(SagaCompleted(saga=saga.name, key=instance.key))
    if saga.on_completed is not None:
        ctx.publish(build(saga.on_completed, instance.data))


def on_failed(saga: type[Saga], index: int, event: Event, ctx: Context) -> None:
    instance = _instance(saga, event)
    if instance is None or instance.status != Status.RUNNING or instance.step != index:
        return
    fail_step(saga, instance, Reason.refused(saga.steps[index], event), ctx.publish)


def on_undone(saga: type[Saga], index: int, event: Event, ctx: Context) -> None:
    instance = _instance(saga, event)
    # An undo confirmed after its deadline (needs_attention) did happen all the same:
    # the compensation goes on.
    waiting = (Status.COMPENSATING, Status.NEEDS_ATTENTION)
    if instance is None or instance.status not in waiting or instance.step != index:
        return
    instance.status = Status.COMPENSATING
    compensate_from(saga, instance, index - 1, ctx.publish)


def on_cancelled(saga: type[Saga], event: Event, ctx: Context) -> None:
    instance = _instance(saga, event)
    if instance is None or instance.status not in (Status.RUNNING, Status.COMPLETED):
        return  # not started here, or already undoing or settled
    said = str(getattr(event, "reason", "") or "called off")
    reason = Reason(f"cancelled: {said}", "cancelled")
    if instance.status == Status.COMPLETED:
        undo_from = len(saga.steps) - 1
    else:  # the step in flight too, when its undo can be built without its answer
        undo_from = instance.step - (
            0 if _can_undo(saga, instance, instance.step) else 1
        )
    _give_up(instance, reason)
    instance.data = {**instance.data, CANCELLED: True}
    ctx.publish(SagaCancelled(saga=saga.name, key=instance.key, **_said(reason)))
    ctx.publish(SagaCompensating(saga=saga.name, key=instance.key, **_said(reason)))
    compensate_from(saga, instance, undo_from, ctx.publish)


def expire(saga: type[Saga], instance: SagaInstance, publish: Publish) -> None:
    """A deadline passed (called by the sweep, in its own unit of work)."""
    step = saga.steps[instance.step]
    if instance.status == Status.RUNNING:
        fail_step(
            saga, instance, Reason.timed_out(step), publish, undo_failed_step=True
        )
    elif instance.status == Status.COMPENSATING:
        _needs_attention(
            saga,
            instance,
            Reason(
                f"{step.title} did not confirm the undo in time",
                f"{step.code}_undo_timed_out",
            ),
            publish,
        )


def on_parked(saga: type[Saga], event: MessageParked, ctx: Context) -> None:
    """A command this saga sent was parked as a dead letter: the step in flight fails
    now, or the undo in flight needs a person now."""
    instance = _parked_for(saga, event)
    if instance is None:
        return
    step = saga.steps[instance.step]
    if instance.status == Status.RUNNING and event.type == step.send.wire_name:
        fail_step(
            saga, instance, Reason.failed(step), ctx.publish, undo_failed_step=True
        )
    elif (
        instance.status == Status.COMPENSATING
        and step.undo is not None
        and event.type == step.undo.wire_name
    ):
        _needs_attention(
            saga,
            instance,
            Reason(
                f"{step.title} failed while undoing and could not finish",
                f"{step.code}_undo_failed",
            ),
            ctx.publish,
        )


def _needs_attention(
    saga: type[Saga], instance: SagaInstance, reason: Reason, publish: Publish
) -> None:
    step = saga.steps[instance.step]
    instance.status, instance.deadline = Status.NEEDS_ATTENTION, None
    instance.reason, instance.reason_code = reason.text, reason.code
    instance.save()
    publish(
        SagaNeedsIntervention(
            saga=saga.name, key=instance.key, step=step.name, **_said(reason)
        )
    )


def fail_step(
    saga: type[Saga],
    instance: SagaInstance,
    reason: Reason,
    publish: Publish,
    *,
    undo_failed_step: bool = False,
) -> None:
    """The step in flight failed: compensate the steps before it (and the step itself
    when ``undo_failed_step`` and its undo can be built: it may still take effect)."""
    step = saga.steps[instance.step]
    _give_up(instance, reason)
    publish(
        SagaStepFailed(
            saga=saga.name, key=instance.key, step=step.name, **_said(reason)
        )
    )
    publish(SagaCompensating(saga=saga.name, key=instance.key, **_said(reason)))
    undo_it = undo_failed_step and _can_undo(saga, instance, instance.step)
    compensate_from(saga, instance, instance.step - (0 if undo_it else 1), publish)


def compensate_from(
    saga: type[Saga], instance: SagaInstance, index: int, publish: Publish
) -> None:
    """Undo completed step ``index`` (waiting for its confirmation), or the next earlier
    one that has an undo; when none is left, the saga is compensated."""
    while index >= 0 and saga.steps[index].undo is None:
        index -= 1
    if index < 0:
        instance.status, instance.deadline = Status.COMPENSATED, None
        instance.save()
        # why it gave up, not why it needed a person on the way (the reason shown now)
        gave_up = instance.data.get(GAVE_UP) or {}
        said = Reason(
            gave_up.get("text", instance.reason),
            gave_up.get("code", instance.reason_code),
        )
        publish(SagaCompensated(saga=saga.name, key=instance.key, **_said(said)))
        if saga.on_compensated is not None and not instance.data.get(CANCELLED):
            giving_up = {"reason": said.text, "reason_code": said.code}
            publish(build(saga.on_compensated, {**instance.data, **giving_up}))
        return
    step = saga.steps[index]
    instance.step = index
    instance.deadline = timezone.now() + step.within
    instance.save()
    undo = step.undo
    if undo is not None:
        publish(build(undo, instance.data))


def _parked_for(saga: type[Saga], event: MessageParked) -> SagaInstance | None:
    """The instance a parked command belongs to, found like every answer: by the
    saga's ``correlate_on`` field, read from the parked command's payload. Not by
    correlation id: a command sent on behalf of a later request (a cancellation's
    refund, a staff retry) carries that request's correlation, not the saga's."""
    payload = (
        DeadLetter.objects.filter(id=event.dead_letter_id)
        .values_list("payload", flat=True)
        .first()
    )
    key = payload.get(saga.correlate_on) if isinstance(payload, dict) else None
    if key is None:
        return None
    return (
        SagaInstance.objects.select_for_update()
        .filter(saga=saga.name, key=str(key))
        .first()
    )


def _instance(saga: type[Saga], event: Event) -> SagaInstance | None:
    key = str(getattr(event, saga.correlate_on))
    return (
        SagaInstance.objects.select_for_update().filter(saga=saga.name, key=key).first()
    )


def _send_step(
    saga: type[Saga], instance: SagaInstance, index: int, publish: Publish
) -> None:
    step = saga.steps[index]
    instance.step = index
    instance.deadline = timezone.now() + step.within
    instance.save()
    publish(build(step.send, instance.data))


def _can_undo(saga: type[Saga], instance: SagaInstance, index: int) -> bool:
    """Whether step ``index``'s undo can be built from what the saga knows (an undo
    needing fields of the step's own answer cannot be sent before it)."""
    undo = saga.steps[index].undo
    if undo is None:
        return False
    required = {n for n, f in undo.model_fields.items() if f.is_required()}
    return bool(required <= instance.data.keys())  # data: a JSONField, so Any


def _give_up(instance: SagaInstance, reason: Reason) -> None:
    instance.status = Status.COMPENSATING
    instance.reason, instance.reason_code = reason.text, reason.code
    instance.data = {
        **instance.data,
        GAVE_UP: {"text": reason.text, "code": reason.code, "step": instance.step},
    }


def _said(reason: Reason) -> dict[str, str]:
    """A transition event's reason fields."""
    return {"reason": reason.text, "code": reason.code}
