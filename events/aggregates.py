"""Event-sourced aggregates: state is the fold of the aggregate's events.

A subclass declares its ``State`` (a pydantic model: its JSON is the snapshot) and a
pure ``evolve(state, event) -> state``; its command methods check the rules against
``self.state`` and ``record`` new events, which are applied at once and appended when
the aggregate is saved. Loading reads the newest snapshot of the current
``snapshot_version`` (if any) and folds only the events after it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from datetime import datetime
from typing import ClassVar, Generic, TypeVar
from uuid import UUID

from django.conf import settings
from django.db import connection
from django.utils import timezone

from pydantic import BaseModel

from . import store
from .log import PendingMessage
from .messages import Event
from .models import Snapshot

S = TypeVar("S", bound=BaseModel)
A = TypeVar("A", bound="Aggregate")


class Aggregate(ABC, Generic[S]):
    """Base of event-sourced aggregates."""

    stream_prefix: ClassVar[str]
    State: ClassVar[type[BaseModel]]
    # Take a snapshot every N events (0: never); EVENTS_SNAPSHOT_EVERY overrides it
    # per stream prefix. Bump snapshot_version whenever State changes shape.
    snapshot_every: ClassVar[int] = 0
    snapshot_version: ClassVar[int] = 1

    def __init__(self, aggregate_id: UUID) -> None:
        self.id = aggregate_id
        self.version = 0  # the last persisted version
        self.state: S = self.initial_state()
        self.pending: list[Event] = []

    @classmethod
    def initial_state(cls) -> S:
        return cls.State()  # type: ignore[return-value]

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

    @classmethod
    def snapshot_interval(cls) -> int:
        overrides = getattr(settings, "EVENTS_SNAPSHOT_EVERY", {})
        return overrides.get(cls.stream_prefix, cls.snapshot_every)

    def record(self, event: Event) -> None:
        """Apply a new event now; it is appended by ``save``."""
        self.state = self.evolve(self.state, event)
        self.pending.append(event)

    def fold(self, events: Iterable[Event]) -> None:
        """Apply already-stored events."""
        for event in events:
            self.state = self.evolve(self.state, event)
            self.version += 1


def load(
    cls: type[A],
    aggregate_id: UUID,
    *,
    upto_version: int | None = None,
    as_of: datetime | None = None,
    use_snapshots: bool = True,
) -> A:
    """The aggregate as it stands now, at a version, or at a point in time."""
    aggregate = cls(aggregate_id)
    stream = aggregate.stream
    if as_of is not None:
        upto_version = store.version_at(stream, as_of)
    if use_snapshots:
        _restore_snapshot(aggregate, upto_version)
    aggregate.fold(
        store.events(stream, after_version=aggregate.version, upto_version=upto_version)
    )
    return aggregate


_SNAPSHOT_SQL = (
    "SELECT version, state FROM events_snapshot "
    "WHERE stream = %s AND schema = %s AND version <= %s "
    "ORDER BY version DESC LIMIT 1"
)


def _restore_snapshot(aggregate: Aggregate, upto_version: int | None) -> None:
    """Start from the newest snapshot of the current shape, if there is one (plain
    cursor: one short query on every command's load)."""
    upto = upto_version if upto_version is not None else 2**31 - 1
    with connection.cursor() as cursor:
        cursor.execute(
            _SNAPSHOT_SQL, [aggregate.stream, aggregate.snapshot_version, upto]
        )
        row = cursor.fetchone()
    if row is not None:
        version, state = row
        aggregate.state = aggregate.State.model_validate_json(state)
        aggregate.version = version


def save(
    aggregate: Aggregate,
    *,
    correlation_id: UUID | None = None,
    causation_id: UUID | None = None,
) -> list[PendingMessage]:
    """Append the aggregate's new events at the version it was loaded at (in the
    caller's transaction), and take a snapshot when one falls due."""
    if not aggregate.pending:
        return []
    items = store.append(
        aggregate.stream,
        aggregate.pending,
        expected_version=aggregate.version,
        correlation_id=correlation_id,
        causation_id=causation_id,
        verify=False,  # the version was read from the stream: it can only be behind
    )
    before, aggregate.version = aggregate.version, aggregate.version + len(items)
    aggregate.pending = []
    interval = aggregate.snapshot_interval()
    if interval and before // interval != aggregate.version // interval:
        # ignore_conflicts: a concurrent writer that reached the same version has the
        # same snapshot; this one then loses on the events (ConcurrencyConflict, which
        # is retried) instead of aborting on the snapshot row.
        Snapshot.objects.bulk_create(
            [
                Snapshot(
                    stream=aggregate.stream,
                    version=aggregate.version,
                    aggregate=type(aggregate).__name__,
                    schema=aggregate.snapshot_version,
                    state=aggregate.state.model_dump(mode="json"),
                    taken_at=timezone.now(),
                )
            ],
            ignore_conflicts=True,
        )
    return items
