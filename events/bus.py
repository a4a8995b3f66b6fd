"""Executing commands in-process: one handler per command type, one transaction.

``execute`` opens the transaction (durable: nesting it fails loudly), runs the
handler, writes what it published at the end (partition order, short counter locks)
and, when an aggregate was changed concurrently, retries the whole command after a
fresh load, after a short random wait, a bounded number of times."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TypeVar
from uuid import UUID

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from .log import PendingMessage
from .messages import Command
from .outbox import UnitOfWork, correlation_scope, current_correlation_id
from .store import ConcurrencyConflict

C = TypeVar("C", bound=Command)
Handler = Callable[[Command], object]
_handlers: dict[type[Command], Handler] = {}
RETRY_BASE, RETRY_CAP = 0.005, 0.2  # seconds


def command_handler(
    command_type: type[C],
) -> Callable[[Callable[[C], object]], Callable[[C], object]]:
    """Register the in-process handler of a command type (from an app's ready())."""

    def register(fn: Callable[[C], object]) -> Callable[[C], object]:
        if command_type in _handlers:
            raise ImproperlyConfigured(f"{command_type.__name__} already has a handler")
        _handlers[command_type] = fn  # type: ignore[assignment]
        return fn

    return register


class NoHandler(LookupError):
    """No handler is registered for the command's type."""


BeforeCommit = Callable[[object, list[PendingMessage]], None]


def execute(
    command: Command,
    *,
    correlation_id: UUID | None = None,
    attempts: int = 5,
    before_commit: BeforeCommit | None = None,
) -> tuple[object, list[PendingMessage]]:
    """Run the command's handler in its own transaction; returns what the handler
    returned and the messages it published. ConcurrencyConflict is retried up to
    ``attempts`` times in all, then raised.

    ``before_commit(result, messages)`` runs inside the transaction, after the handler
    and before its messages are written (so it never lengthens the partition locks):
    whatever it writes commits with the command's effects or not at all (e.g. the
    stored response of an idempotent request). An exception from it rolls the whole
    command back; on a retry it runs again, in the new transaction."""
    handler = _handlers.get(type(command))
    if handler is None:
        raise NoHandler(f"no handler is registered for {type(command).__name__}")
    correlation = correlation_id or current_correlation_id()
    for attempt in range(1, attempts + 1):
        try:
            with _maybe_scope(correlation), transaction.atomic(durable=True):
                unit = UnitOfWork()
                with unit.active():
                    result = handler(command)
                if before_commit is not None:
                    before_commit(result, list(unit.pending))
                return result, unit.flush()
        except ConcurrencyConflict:
            if attempt == attempts:
                raise
            # Between transactions, never inside one: spread the competing writers out
            # (full jitter, capped) so a hot aggregate does not livelock its writers.
            time.sleep(random.uniform(0, min(RETRY_CAP, RETRY_BASE * 2**attempt)))
    raise AssertionError("unreachable")


def _maybe_scope(correlation_id: UUID | None) -> AbstractContextManager[object]:
    return correlation_scope(correlation_id) if correlation_id else nullcontext()
