"""Orchestrated sagas, declared rather than hand-coded.

A saga names the event that starts it, the field that correlates its replies, and
steps: the command to send, the reply events meaning done or failed, the compensating
command and the event confirming it, and a deadline. Its state is a row per instance
(keyed by saga and correlation value), changed only inside the delivery transaction
of the reply that caused the change, so a killed worker leaves it either before or
after a transition, never half way. Every transition is also published as an event
(``sagas.*``) carrying the correlation id.

Commands are built from the saga's data by field name: the starting event's fields,
plus the fields of each step's done event. A late or duplicate reply (for another step,
or for an instance that has moved on) changes nothing. A failed step starts the
compensation of the completed steps in reverse order, one at a time. A step past its
deadline fails too, and is undone with them: its command may still take effect (a
charge answered after the saga gave up), and the undo, sent to the same key, is handled
after it. An undo that does not confirm by its deadline (its handler failing through
its retries) marks the saga ``needs_attention`` and publishes SagaNeedsIntervention,
which raises an alert (``events.alerts``).

``cancelled_by`` names an event that calls the saga off (a customer's cancellation):
a running saga undoes its finished steps and the one in flight, a completed one all of
its steps; neither sends ``on_compensated`` (the cancellation already says how the
business transaction ended). A saga already compensating or finished ignores it.
Participants must therefore answer an undo of something they never did (release of
no stock, refund of no charge) with its confirmation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.db import transaction
from django.utils import timezone

from .messages import Command, Event, Message, message
from .models import SagaInstance
from .outbox import UnitOfWork, correlation_scope, publish
from .subscriptions import Context, Subscription


@dataclass(frozen=True)
class Step:
    send: type[Command]
    done: type[Event]
    failed: tuple[type[Event], ...] = ()
    undo: type[Command] | None = None
    undone: type[Event] | None = None
    within: timedelta = timedelta(minutes=5)

    @property
    def name(self) -> str:
        return self.send.__name__


# --- the transitions, as events --------------------------------------------------


class SagaTransition(Event):
    saga: str
    key: str
    step: str = ""
    reason: str = ""


@message("sagas.SagaStarted", topic="sagas", key="key")
class SagaStarted(SagaTransition):
    pass


@message("sagas.SagaStepCompleted", topic="sagas", key="key")
class SagaStepCompleted(SagaTransition):
    pass


@message("sagas.SagaStepFailed", topic="sagas", key="key")
class SagaStepFailed(SagaTransition):
    pass


@message("sagas.SagaCancelled", topic="sagas", key="key")
class SagaCancelled(SagaTransition):
    pass


@message("sagas.SagaCompensating", topic="sagas", key="key")
class SagaCompensating(SagaTransition):
    pass


@message("sagas.SagaCompleted", topic="sagas", key="key")
class SagaCompleted(SagaTransition):
    pass


@message("sagas.SagaCompensated", topic="sagas", key="key")
class SagaCompensated(SagaTransition):
    pass


@message("sagas.SagaNeedsIntervention", topic="sagas", key="key")
class SagaNeedsIntervention(SagaTransition):
    pass


# --- declaring and running ---------------------------------------------------------

Status = SagaInstance.Status
CANCELLED = "_cancelled"  # in an instance's data: called off by ``cancelled_by``


class Saga:
    """Base of saga declarations; subclass and set the class attributes, then decorate
    with :func:`saga` (in a module imported from ``ready()``)."""

    name: ClassVar[str]
    started_by: ClassVar[type[Event]]
    correlate_on: ClassVar[str]
    steps: ClassVar[tuple[Step, ...]]
    on_completed: ClassVar[type[Command] | None] = None
    on_compensated: ClassVar[type[Command] | None] = None
    cancelled_by: ClassVar[type[Event] | None] = None

    # -- reactions (run inside the delivery transaction) ------------------------

    @classmethod
    def start(cls, event: Event, ctx: Context) -> None:
        key = str(getattr(event, cls.correlate_on))
        data = event.model_dump(mode="json")
        instance, created = SagaInstance.objects.get_or_create(
            saga=cls.name,
            key=key,
            defaults={"data": data, "correlation_id": ctx.correlation_id},
        )
        if not created:
            return  # a redelivered or duplicate start
        ctx.publish(SagaStarted(saga=cls.name, key=key))
        cls._send_step(instance, 0, ctx)

    @classmethod
    def on_done(cls, index: int, event: Event, ctx: Context) -> None:
        instance = cls._instance(event)
        if (
            instance is None
            or instance.status != Status.RUNNING
            or instance.step != index
        ):
            return  # late, duplicate, or for a saga that moved on
        step = cls.steps[index]
        instance.data = {**instance.data, **event.model_dump(mode="json")}
        ctx.publish(SagaStepCompleted(saga=cls.name, key=instance.key, step=step.name))
        if index + 1 < len(cls.steps):
            cls._send_step(instance, index + 1, ctx)
            return
        instance.status, instance.deadline = Status.COMPLETED, None
        instance.save()
        ctx.publish(SagaCompleted(saga=cls.name, key=instance.key))
        if cls.on_completed is not None:
            ctx.publish(cls._command(cls.on_completed, instance.data))

    @classmethod
    def on_failed(cls, index: int, event: Event, ctx: Context) -> None:
        instance = cls._instance(event)
        if (
            instance is None
            or instance.status != Status.RUNNING
            or instance.step != index
        ):
            return
        cls._fail_step(instance, cls._reason(event), ctx.publish)

    @classmethod
    def on_undone(cls, index: int, event: Event, ctx: Context) -> None:
        instance = cls._instance(event)
        # An undo confirmed after its deadline (needs_attention) did happen all the
        # same: the compensation goes on.
        waiting = (Status.COMPENSATING, Status.NEEDS_ATTENTION)
        if instance is None or instance.status not in waiting or instance.step != index:
            return
        instance.status = Status.COMPENSATING
        cls._compensate_from(instance, index - 1, ctx.publish)

    @classmethod
    def on_cancelled(cls, event: Event, ctx: Context) -> None:
        instance = cls._instance(event)
        if instance is None or instance.status not in (
            Status.RUNNING,
            Status.COMPLETED,
        ):
            return  # not started here, or already undoing or settled
        reason = f"cancelled: {cls._reason(event)}"
        if instance.status == Status.COMPLETED:
            undo_from = len(cls.steps) - 1
        else:  # the step in flight too, when its undo can be built without its answer
            undo_from = instance.step - (
                0 if cls._can_undo(instance, instance.step) else 1
            )
        instance.status, instance.reason = Status.COMPENSATING, reason
        instance.data = {**instance.data, CANCELLED: True}
        ctx.publish(SagaCancelled(saga=cls.name, key=instance.key, reason=reason))
        ctx.publish(SagaCompensating(saga=cls.name, key=instance.key, reason=reason))
        cls._compensate_from(instance, undo_from, ctx.publish)

    # -- deadlines ---------------------------------------------------------------

    @classmethod
    def expire(cls, instance: SagaInstance, publish: Any) -> None:
        """A deadline passed (called by the sweep, in its own transaction)."""
        step = cls.steps[instance.step]
        if instance.status == Status.RUNNING:
            cls._fail_step(
                instance,
                f"{step.name} did not answer in time",
                publish,
                undo_failed_step=True,
            )
        elif instance.status == Status.COMPENSATING:
            instance.status, instance.deadline = Status.NEEDS_ATTENTION, None
            instance.reason = f"undo of {step.name} did not confirm in time"
            instance.save()
            publish(
                SagaNeedsIntervention(
                    saga=cls.name,
                    key=instance.key,
                    step=step.name,
                    reason=instance.reason,
                )
            )

    # -- helpers -------------------------------------------------------------------

    @classmethod
    def _instance(cls, event: Event) -> SagaInstance | None:
        key = str(getattr(event, cls.correlate_on))
        return (
            SagaInstance.objects.select_for_update()
            .filter(saga=cls.name, key=key)
            .first()
        )

    @classmethod
    def _send_step(cls, instance: SagaInstance, index: int, ctx: Context) -> None:
        step = cls.steps[index]
        instance.step = index
        instance.deadline = timezone.now() + step.within
        instance.save()
        ctx.publish(cls._command(step.send, instance.data))

    @classmethod
    def _fail_step(
        cls,
        instance: SagaInstance,
        reason: str,
        publish: Any,
        *,
        undo_failed_step: bool = False,
    ) -> None:
        step = cls.steps[instance.step]
        instance.status, instance.reason = Status.COMPENSATING, reason
        publish(
            SagaStepFailed(
                saga=cls.name, key=instance.key, step=step.name, reason=reason
            )
        )
        publish(SagaCompensating(saga=cls.name, key=instance.key, reason=reason))
        undo_it = undo_failed_step and cls._can_undo(instance, instance.step)
        cls._compensate_from(instance, instance.step - (0 if undo_it else 1), publish)

    @classmethod
    def _compensate_from(cls, instance: SagaInstance, index: int, publish: Any) -> None:
        """Undo completed step ``index`` (waiting for its confirmation), or the next
        earlier one that has an undo; when none is left, the saga is compensated."""
        while index >= 0 and cls.steps[index].undo is None:
            index -= 1
        if index < 0:
            instance.status, instance.deadline = Status.COMPENSATED, None
            instance.save()
            publish(
                SagaCompensated(saga=cls.name, key=instance.key, reason=instance.reason)
            )
            if cls.on_compensated is not None and not instance.data.get(CANCELLED):
                publish(
                    cls._command(
                        cls.on_compensated, {**instance.data, "reason": instance.reason}
                    )
                )
            return
        step = cls.steps[index]
        instance.step = index
        instance.deadline = timezone.now() + step.within
        instance.save()
        publish(cls._command(step.undo, instance.data))

    @classmethod
    def _can_undo(cls, instance: SagaInstance, index: int) -> bool:
        """Whether step ``index``'s undo can be built from what the saga knows (an undo
        needing fields of the step's own answer cannot be sent before it)."""
        undo = cls.steps[index].undo
        if undo is None:
            return False
        required = {n for n, f in undo.model_fields.items() if f.is_required()}
        return required <= instance.data.keys()

    @classmethod
    def _reason(cls, event: Event) -> str:
        """The event's own ``reason``, or what it says besides the correlation key."""
        reason = getattr(event, "reason", "")
        if reason:
            return str(reason)
        details = event.model_dump(mode="json", exclude={cls.correlate_on})
        return f"{type(event).__name__}: {details}" if details else type(event).__name__

    @staticmethod
    def _command(command_type: type[Command], data: dict[str, Any]) -> Message:
        fields = command_type.model_fields
        return command_type.model_validate(
            {k: v for k, v in data.items() if k in fields}
        )


_sagas: dict[str, type[Saga]] = {}


def saga(cls: type[Saga]) -> type[Saga]:
    """Declare a saga: subscribe it to its starting event and to every reply."""
    topics = {cls.started_by.topic}
    if cls.cancelled_by is not None:
        topics.add(cls.cancelled_by.topic)
    for step in cls.steps:
        topics |= {step.done.topic, *(f.topic for f in step.failed)}
        if step.undone is not None:
            topics.add(step.undone.topic)
    subscription = Subscription(cls.name, topics=tuple(sorted(topics)))
    subscription.on(cls.started_by)(cls.start)
    if cls.cancelled_by is not None:
        subscription.on(cls.cancelled_by)(cls.on_cancelled)
    for index, step in enumerate(cls.steps):
        subscription.on(step.done)(_bound(cls.on_done, index))
        for failed in step.failed:
            subscription.on(failed)(_bound(cls.on_failed, index))
        if step.undone is not None:
            subscription.on(step.undone)(_bound(cls.on_undone, index))
    _sagas[cls.name] = cls
    return cls


def _bound(reaction: Any, index: int) -> Any:
    def react(event: Event, ctx: Context) -> None:
        reaction(index, event, ctx)

    return react


def expire_overdue(*, now: datetime | None = None) -> int:
    """Treat every saga step past its deadline as failed (a periodic sweep calls this;
    tests pass a controllable ``now``). One short transaction per instance."""
    now = now or timezone.now()
    overdue = SagaInstance.objects.filter(
        deadline__lt=now, status__in=[Status.RUNNING, Status.COMPENSATING]
    ).values_list("id", flat=True)
    expired = 0
    for instance_id in list(overdue):
        with transaction.atomic(durable=True):
            instance = (
                SagaInstance.objects.select_for_update()
                .filter(id=instance_id, deadline__lt=now)
                .first()
            )
            declared = _sagas.get(instance.saga) if instance else None
            if instance is None or declared is None:
                continue
            unit = UnitOfWork()
            with correlation_scope(instance.correlation_id), unit.active():
                declared.expire(instance, publish)
            unit.flush()
            expired += 1
    return expired


class SagaActionError(ValueError):
    """A staff action on a saga that does not apply (unknown id, wrong status)."""


def retry(instance_id: int) -> SagaInstance:
    """Staff: send the undo that did not confirm again, with a fresh deadline."""

    def compensate_again(cls: type[Saga], instance: SagaInstance) -> None:
        instance.status = Status.COMPENSATING
        cls._compensate_from(instance, instance.step, publish)

    return _staff_action(instance_id, compensate_again)


def resolve(instance_id: int, *, note: str) -> SagaInstance:
    """Staff: the saga was settled by hand (say how); nothing more is sent."""

    def settle(cls: type[Saga], instance: SagaInstance) -> None:
        instance.status, instance.deadline = Status.RESOLVED, None
        instance.reason = f"{instance.reason}; resolved by hand: {note}".lstrip("; ")
        instance.save()

    return _staff_action(instance_id, settle)


def _staff_action(instance_id: int, action: Any) -> SagaInstance:
    with transaction.atomic(durable=True):
        instance = (
            SagaInstance.objects.select_for_update().filter(id=instance_id).first()
        )
        if instance is None:
            raise SagaActionError(f"no saga with id {instance_id}")
        if instance.status != Status.NEEDS_ATTENTION:
            raise SagaActionError(
                f"saga {instance_id} is {instance.status}, not needs_attention"
            )
        declared = _sagas.get(instance.saga)
        if declared is None:
            raise SagaActionError(f"saga {instance.saga!r} is not declared any more")
        unit = UnitOfWork()
        with correlation_scope(instance.correlation_id), unit.active():
            action(declared, instance)
        unit.flush()
    return instance
