"""Dispatchers: who runs drains, and when.

One interface, two implementations chosen by ``EVENTS_DISPATCHER``: ``inprocess``
(threads in the serving process, the embedded default) and ``celery`` (drain tasks on
workers). Both are woken right after a commit that wrote messages and both sweep
periodically, so a lost wake-up delays delivery by one sweep period at most and never
loses a message: the checkpoints in the database say what is left to do.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from ..checkpoints import Target
from ..subscriptions import registry

logger = logging.getLogger(__name__)


class Dispatcher(Protocol):
    def wake(self, targets: Iterable[Target]) -> None:
        """Ask for drains of these (subscription, partition) pairs; never raises for an
        unavailable transport (the sweep covers it)."""


_dispatcher: Dispatcher | None = None
_guard = threading.Lock()


def get_dispatcher() -> Dispatcher:
    global _dispatcher
    with _guard:
        if _dispatcher is None:
            _dispatcher = _build(settings.EVENTS_DISPATCHER)
        return _dispatcher


def set_dispatcher(dispatcher: Dispatcher | None) -> None:
    """Replace the process's dispatcher (tests, benchmarks)."""
    global _dispatcher
    with _guard:
        _dispatcher = dispatcher


def _build(kind: str) -> Dispatcher:
    if kind == "inprocess":
        from .inprocess import InProcessDispatcher

        return InProcessDispatcher(
            threads=settings.EVENTS_INPROCESS_THREADS,
            sweep_seconds=settings.EVENTS_SWEEP_SECONDS,
        )
    if kind == "celery":
        from .celery import CeleryDispatcher

        return CeleryDispatcher()
    raise ImproperlyConfigured(
        f"EVENTS_DISPATCHER must be 'inprocess' or 'celery', not {kind!r}"
    )


def wake_after_commit(touched: set[tuple[str, int]]) -> None:
    """After the current transaction commits, wake the subscriptions that read what it
    wrote ((topic, partition) pairs). A failure to wake is logged, never raised: the
    transaction has committed and the caller's response must not turn into an error."""
    targets = {
        (subscription.name, partition)
        for topic, partition in touched
        for subscription in registry.reading(topic)
    }
    if targets:
        transaction.on_commit(lambda: _wake_safely(targets), robust=True)


def _wake_safely(targets: set[Target]) -> None:
    try:
        get_dispatcher().wake(targets)
    except Exception:
        logger.exception(
            "wake-up of %s failed; the sweep will deliver", sorted(targets)
        )


def start_embedded_dispatcher() -> None:
    """Start the in-process dispatcher's threads when it is the configured one (called
    by the WSGI entry, so only serving processes deliver, not management commands)."""
    if settings.EVENTS_DISPATCHER == "inprocess":
        dispatcher = get_dispatcher()
        dispatcher.start()  # type: ignore[attr-defined]
