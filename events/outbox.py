"""Publishing: messages become log rows inside the caller's transaction.

``publish`` refuses to run outside a transaction, so a message can never exist without
the state change that caused it, nor the other way round: a rollback drops both.

Inside a platform-owned transaction (a delivered batch, a command execution) messages
are buffered in a :class:`UnitOfWork` and written at its end, just before commit: the
partition counters are then locked only for the last moments of the transaction. After
commit, the dispatcher is woken for the subscriptions that read what was written.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID, uuid4

from django.db import IntegrityError, transaction

from . import log
from .log import PendingMessage
from .messages import Message


class NotInTransaction(RuntimeError):
    """publish() was called with no transaction open."""


_correlation: contextvars.ContextVar[UUID | None] = contextvars.ContextVar(
    "events_correlation_id", default=None
)


_causation: contextvars.ContextVar[UUID | None] = contextvars.ContextVar(
    "events_causation_id", default=None
)


def current_correlation_id() -> UUID | None:
    return _correlation.get()


@contextmanager
def handling(correlation_id: UUID, message_id: UUID) -> Iterator[None]:
    """While a message is handled: whatever is published, by ``ctx.publish`` or by
    code the handler calls (a command handler saving an aggregate), keeps the message's
    correlation id and names the message as its cause."""
    tokens = _correlation.set(correlation_id), _causation.set(message_id)
    try:
        yield
    finally:
        _correlation.reset(tokens[0])
        _causation.reset(tokens[1])


@contextmanager
def correlation_scope(correlation_id: UUID) -> Iterator[UUID]:
    """Messages published inside carry this correlation id (e.g. one per request)."""
    token = _correlation.set(correlation_id)
    try:
        yield correlation_id
    finally:
        _correlation.reset(token)


class UnitOfWork:
    """Collects messages published during one platform-owned transaction."""

    _local = threading.local()

    def __init__(self) -> None:
        self.pending: list[PendingMessage] = []

    @classmethod
    def current(cls) -> UnitOfWork | None:
        return getattr(cls._local, "active", None)

    @contextmanager
    def active(self) -> Iterator[UnitOfWork]:
        previous, UnitOfWork._local.active = UnitOfWork.current(), self
        try:
            yield self
        finally:
            UnitOfWork._local.active = previous

    def add(self, items: list[PendingMessage]) -> None:
        self.pending.extend(items)

    def flush(self) -> list[PendingMessage]:
        """Write the buffered messages (call inside the transaction, at its end)."""
        written, self.pending = self.pending, []
        if written:
            write_and_wake(written)
        return written


def pending(
    *messages: Message,
    correlation_id: UUID | None = None,
    causation_id: UUID | None = None,
    headers: dict[str, str] | None = None,
) -> list[PendingMessage]:
    """Messages stamped with ids, correlation, causation and partition (unwritten)."""
    correlation = correlation_id or current_correlation_id() or uuid4()
    causation_id = causation_id or _causation.get()
    return [
        PendingMessage(
            message=message,
            partition=log.partition_for(message.message_key()),
            correlation_id=correlation,
            causation_id=causation_id,
            headers=dict(headers or {}),
        )
        for message in messages
    ]


def publish(
    *messages: Message,
    correlation_id: UUID | None = None,
    causation_id: UUID | None = None,
    headers: dict[str, str] | None = None,
) -> list[PendingMessage]:
    """Add messages to the log in the current transaction.

    Raises NotInTransaction when no transaction is open. The returned items carry
    partition and offset once written (at once, or at the end of a unit of work).

    Outside a unit of work each call takes its partitions' counters at once, in
    ascending order within the call; two transactions that each make several calls to
    different partitions in opposite orders can deadlock (PostgreSQL aborts one).
    Publish everything in one call, or inside a unit of work, which writes at the end
    in partition order."""
    if not transaction.get_connection().in_atomic_block:
        raise NotInTransaction(
            "publish() must run inside transaction.atomic(): a message is only ever "
            "written together with the state change that caused it"
        )
    items = pending(
        *messages,
        correlation_id=correlation_id,
        causation_id=causation_id,
        headers=headers,
    )
    unit = UnitOfWork.current()
    if unit is not None:
        unit.add(items)
    else:
        write_and_wake(items)
    return items


def write_and_wake(items: list[PendingMessage]) -> None:
    """Write to the log now and wake the readers after commit. A stream version taken
    by a concurrent writer (unique constraint) becomes a ConcurrencyConflict."""
    from .dispatch import wake_after_commit
    from .store import ConcurrencyConflict

    try:
        log.write(items)
    except IntegrityError as error:
        appended = next((i for i in items if i.stream_version is not None), None)
        if appended is None:
            raise
        raise ConcurrencyConflict(
            appended.stream, appended.stream_version - 1
        ) from error
    wake_after_commit({(item.topic, item.partition) for item in items})
