"""Executing commands in-process: the command's one handler, in one unit of work.

``execute`` opens the unit of work (a durable transaction: nesting it fails loudly),
runs the handler, writes what it published at the end (partition order, short counter
locks) and, when an aggregate was changed concurrently, retries the whole command
after a fresh load, after a short random wait, a bounded number of times. ``run``
executes a command inside the unit of work already open (a delivered message whose
reaction is a command of this app)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar
from uuid import UUID

from ..errors import ConcurrencyConflict
from ..log.context import correlation_scope, current_correlation_id
from ..log.pending import PendingMessage
from ..log.unit import UnitOfWork, unit_of_work
from ..messages import Command
from .registry import registry

RETRY_BASE, RETRY_CAP = 0.005, 0.2  # seconds
R = TypeVar("R")
BeforeCommit = Callable[[object, list[PendingMessage]], None]
OnBegin = Callable[[], None]


class NoUnitOfWork(RuntimeError):
    """``run`` was called with no unit of work open."""


def execute(
    command: Command,
    *,
    correlation_id: UUID | None = None,
    attempts: int = 5,
    on_begin: OnBegin | None = None,
    before_commit: BeforeCommit | None = None,
) -> tuple[object, list[PendingMessage]]:
    """Run the command's handler in its own unit of work; returns what the handler
    returned and the messages it published. ConcurrencyConflict is retried up to
    ``attempts`` times in all, then raised.

    ``on_begin()`` runs first inside the transaction, before the handler (e.g. an
    idempotency key claimed in the command's own transaction, ``events.once``): an
    exception from it rolls the (still empty) transaction back and is raised.

    ``before_commit(result, messages)`` runs inside the transaction, after the handler
    and before its messages are written (so it never lengthens the partition locks):
    whatever it writes commits with the command's effects or not at all (e.g. the
    stored response of an idempotent request). An exception from it rolls the whole
    command back; on a retry both run again, in the new transaction."""
    handler = registry.in_process(type(command))
    correlation = correlation_id or current_correlation_id()
    for attempt in range(1, attempts + 1):
        try:
            with _maybe_scope(correlation), unit_of_work() as unit:
                if on_begin is not None:
                    on_begin()
                result = handler(command)
                if before_commit is not None:
                    before_commit(result, list(unit.pending))
            return result, unit.written
        except ConcurrencyConflict:
            if attempt == attempts:
                raise
            # Between transactions, never inside one: spread the competing writers out
            # (full jitter, capped) so a hot aggregate does not livelock its writers.
            time.sleep(random.uniform(0, min(RETRY_CAP, RETRY_BASE * 2**attempt)))
    raise AssertionError("unreachable")


def outcome(command: Command, expected: type[R], **options: Any) -> R:
    """``execute`` for a caller that answers with the handler's result: that result,
    checked to be an ``expected`` (a handler returning anything else is a bug)."""
    result, _ = execute(command, **options)
    return checked(command, result, expected)


def checked(command: Command, result: object, expected: type[R]) -> R:
    """``result`` of ``command``'s handler, if it is an ``expected``."""
    if not isinstance(result, expected):
        raise TypeError(
            f"the handler of {type(command).__name__} returned {result!r}, "
            f"not {expected.__name__}"
        )
    return result


def run(command: Command) -> object:
    """Run the command's handler inside the unit of work already open (its messages
    are written with that unit's); a conflict is the caller's to retry."""
    if UnitOfWork.current() is None:
        raise NoUnitOfWork(
            f"bus.run({type(command).__name__}) needs an open unit of work; "
            "use bus.execute to open one"
        )
    return registry.in_process(type(command))(command)


def _maybe_scope(correlation_id: UUID | None) -> AbstractContextManager[object]:
    return correlation_scope(correlation_id) if correlation_id else nullcontext()
