"""The base of event-sourced aggregates: state is the fold of the aggregate's events.

Pure: no Django, no I/O, nothing of the platform but the message bases (a domain built
on it stays plain Python; loading and saving are ``events.store.repository``'s). A
subclass declares its ``State`` (a pydantic model: its JSON is the snapshot) and a pure
``evolve(state, event) -> state``; its command methods check the rules against
``self.state`` and ``record`` new events, which are applied at once and appended when
the aggregate is saved.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import ClassVar, Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel

from ..messages import Event

S = TypeVar("S", bound=BaseModel)


class Aggregate(ABC, Generic[S]):
    """Base of event-sourced aggregates."""

    stream_prefix: ClassVar[str]
    State: ClassVar[type[BaseModel]]
    # Take a snapshot every N events (0: never); the repository's settings may override
    # it per stream prefix. Bump snapshot_version whenever State changes shape.
    snapshot_every: ClassVar[int] = 0
    snapshot_version: ClassVar[int] = 1

    def __init__(self, aggregate_id: UUID) -> None:
        self.id = aggregate_id
        self.version = 0  # the last persisted version
        self.state: S = self.initial_state()
        self.pending: list[Event] = []

    @classmethod
    def initial_state(cls) -> S:
        """The state before any event: ``State()``. A subclass whose ``State`` has
        required fields overrides this."""
        state: S = cls.State()  # type: ignore[assignment]  # State is type[S] by contract; ClassVar cannot name the type variable
        return state

    @staticmethod
    @abstractmethod
    def evolve(state: S, event: Event) -> S:
        """The state after ``event``: pure, no I/O, never refuses a stored event."""

    @classmethod
    def stream_for(cls, aggregate_id: UUID) -> str:
        return f"{cls.stream_prefix}-{aggregate_id}"

    @property
    def stream(self) -> str:
        return self.stream_for(self.id)

    def record(self, event: Event) -> None:
        """Apply a new event now; it is appended by the repository's ``save``."""
        self.state = self.evolve(self.state, event)
        self.pending.append(event)

    def fold(self, events: Iterable[Event]) -> None:
        """Apply already-stored events."""
        for event in events:
            self.state = self.evolve(self.state, event)
            self.version += 1
