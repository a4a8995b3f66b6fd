"""Declared sagas: ``@saga`` subscribes a declaration to its starting event and to
every reply, and keeps it by name for deadlines and staff actions."""

from __future__ import annotations

from collections.abc import Callable

from ..delivery.notices import MessageParked
from ..delivery.subscriptions import Context, Subscription
from ..messages import Event
from . import engine
from .declaration import Saga, check

_sagas: dict[str, type[Saga]] = {}


def saga(cls: type[Saga]) -> type[Saga]:
    """Declare a saga: check that its state supplies every command it sends, then
    subscribe it to its starting event, to every reply and to the dead letters (a
    parked command is an answer)."""
    check(cls)
    topics = {cls.started_by.topic, MessageParked.topic}
    if cls.cancelled_by is not None:
        topics.add(cls.cancelled_by.topic)
    for step in cls.steps:
        topics |= {step.done.topic, *(f.topic for f in step.failed)}
        if step.undone is not None:
            topics.add(step.undone.topic)
    subscription = Subscription(cls.name, topics=tuple(sorted(topics)))
    subscription.on(cls.started_by)(lambda event, ctx: engine.start(cls, event, ctx))
    subscription.on(MessageParked)(lambda event, ctx: engine.on_parked(cls, event, ctx))
    if cls.cancelled_by is not None:
        subscription.on(cls.cancelled_by)(
            lambda event, ctx: engine.on_cancelled(cls, event, ctx)
        )
    for index, step in enumerate(cls.steps):
        subscription.on(step.done)(_at(engine.on_done, cls, index))
        for failed in step.failed:
            subscription.on(failed)(_at(engine.on_failed, cls, index))
        if step.undone is not None:
            subscription.on(step.undone)(_at(engine.on_undone, cls, index))
    _sagas[cls.name] = cls
    return cls


Reaction = Callable[[type[Saga], int, Event, Context], None]


def _at(
    reaction: Reaction, cls: type[Saga], index: int
) -> Callable[[Event, Context], None]:
    """The reaction to a reply of step ``index``."""

    def react(event: Event, ctx: Context) -> None:
        reaction(cls, index, event, ctx)

    return react


def declared(name: str) -> type[Saga] | None:
    return _sagas.get(name)


def all_sagas() -> list[type[Saga]]:
    return [_sagas[name] for name in sorted(_sagas)]
