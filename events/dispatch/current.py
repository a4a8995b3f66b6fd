"""The process's dispatcher: who runs drains, and when.

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

from ..delivery.checkpoints import Target, pending_targets
from ..delivery.subscriptions import registry
from ..log.writer import commits_notify
from .celery import CeleryDispatcher
from .inprocess import InProcessDispatcher

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
        return InProcessDispatcher(
            threads=settings.EVENTS_INPROCESS_THREADS,
            sweep_seconds=settings.EVENTS_SWEEP_SECONDS,
            watch_seconds=settings.EVENTS_INPROCESS_WATCH_SECONDS,
        )
    if kind == "celery":
        return CeleryDispatcher()
    raise ImproperlyConfigured(
        f"EVENTS_DISPATCHER must be 'inprocess' or 'celery', not {kind!r}"
    )


def wake_readers(*, touched: set[tuple[str, int]], **_: object) -> None:
    """Receiver of ``events.log.signals.messages_committed`` (connected in
    ``EventsConfig.ready()``): wake the subscriptions that read what a transaction
    wrote ((topic, partition) pairs). A failure to wake is logged, never raised: the
    transaction has committed and the caller's response must not turn into an error;
    the sweep delivers."""
    targets = {
        (subscription.name, partition)
        for topic, partition in touched
        for subscription in registry.reading(topic)
    }
    dispatcher = get_dispatcher()
    if not targets or (isinstance(dispatcher, CeleryDispatcher) and commits_notify()):
        return  # nothing to wake, or the commit's own NOTIFY rang (events.log.writer)
    try:
        dispatcher.wake(targets)
    except Exception:
        logger.exception(
            "wake-up of %s failed; the sweep will deliver", sorted(targets)
        )


def wake_subscription(subscription: str, partitions: Iterable[int] = ()) -> None:
    """Wake these partitions of a subscription (default: those it is behind on)
    after staff changed its course (resumed it, moved its checkpoints): delivery
    starts now rather than at the next sweep. Once the caller's transaction commits
    (at once outside one), so the drains see what it changed; a failure is logged,
    never raised."""
    chosen = sorted(set(partitions))

    def wake() -> None:
        try:
            targets = [(subscription, p) for p in chosen] or [
                target for target in pending_targets() if target[0] == subscription
            ]
            get_dispatcher().wake(targets)
        except Exception:
            logger.exception(
                "wake-up of %s failed; the sweep will deliver", subscription
            )

    transaction.on_commit(wake)


def start_embedded_dispatcher() -> None:
    """Start the in-process dispatcher's threads when it is the configured one (called
    by the WSGI entry, so only serving processes deliver, not management commands)."""
    if settings.EVENTS_DISPATCHER == "inprocess":
        dispatcher = get_dispatcher()
        if isinstance(dispatcher, InProcessDispatcher):
            dispatcher.start()
