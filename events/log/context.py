"""The correlation context: what is published now carries this correlation id and
names this cause.

A request sets its correlation id (``correlation_scope``); a delivered message sets
both (``handling``), so whatever a handler publishes, through ``ctx.publish`` or through
code it calls (a command handler saving an aggregate), keeps the message's correlation
id and names the message as its cause. Context variables, so threads and tasks each
have their own.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

_correlation: contextvars.ContextVar[UUID | None] = contextvars.ContextVar(
    "events_correlation_id", default=None
)
_causation: contextvars.ContextVar[UUID | None] = contextvars.ContextVar(
    "events_causation_id", default=None
)


def current_correlation_id() -> UUID | None:
    return _correlation.get()


def current_causation_id() -> UUID | None:
    return _causation.get()


@contextmanager
def handling(correlation_id: UUID, message_id: UUID) -> Iterator[None]:
    """While a message is handled: its correlation id, and the message as the cause."""
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
