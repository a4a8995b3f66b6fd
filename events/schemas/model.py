"""The contract as plain data: message types, subscriptions and sagas.

Built from the code (``sources``) or read back from the committed registry
(``registry``), so the gate compares two values of the same shape and the documents
are generated from data, never from live classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["event", "command"]
Role = Literal["saga", "projection", "handlers"]  # what declares a subscription
Schema = dict[str, Any]


@dataclass(frozen=True)
class MessageSpec:
    """One message type at its current version.

    ``producers`` are the apps that publish it: for an event the app that declares it;
    for a command the apps whose sagas send it (empty when nothing declared says who
    sends it, e.g. a command run through ``bus.execute`` by an API). ``accepted_by``:
    the apps that handle a command. ``consumers``: the subscriptions handling it.
    ``upcasters``: the versions ``n`` for which the type has a ``from_v<n>`` step.
    """

    type: str
    kind: Kind
    version: int
    topic: str
    key: str
    declared_by: str
    schema: Schema
    producers: tuple[str, ...] = ()
    accepted_by: tuple[str, ...] = ()
    consumers: tuple[str, ...] = ()
    in_process: bool = False  # a command executed by the bus, not through the log
    upcasters: frozenset[int] = frozenset()
    # the class, when built from code (examples are read through it); not compared
    cls: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class SubscriptionSpec:
    """A consumer group: its declaring app, what it is, its topics and the types it
    handles (wire names)."""

    name: str
    app: str
    role: Role
    topics: tuple[str, ...]
    handles: tuple[str, ...]


@dataclass(frozen=True)
class StepSpec:
    send: str
    done: str
    failed: tuple[str, ...]
    undo: str | None
    undone: str | None
    within_seconds: int


@dataclass(frozen=True)
class SagaSpec:
    name: str
    app: str
    started_by: str
    correlate_on: str
    steps: tuple[StepSpec, ...]
    on_completed: str | None
    on_compensated: str | None
    cancelled_by: str | None

    def commands(self) -> set[str]:
        """Every command the saga sends (steps, undos, its closing commands)."""
        sent = {s.send for s in self.steps} | {s.undo for s in self.steps if s.undo}
        return sent | {c for c in (self.on_completed, self.on_compensated) if c}


@dataclass(frozen=True)
class Contract:
    """Everything the code declares, by wire name / subscription name / saga name."""

    messages: dict[str, MessageSpec]
    subscriptions: dict[str, SubscriptionSpec]
    sagas: dict[str, SagaSpec]

    def topics(self) -> list[str]:
        return sorted({m.topic for m in self.messages.values()})
