"""A Celery worker's own dispatcher, when commits ring PostgreSQL (``EVENTS_WAKE =
"notify"``).

Each worker process runs the in-process dispatcher's lanes (one small pool of threads
per subscription, so a slow subscription never holds up another) for the
subscriptions of the queues it consumes, and a :class:`~events.dispatch.listener
.Listener` that wakes them when a commit NOTIFYs their topics. A drain starts within
milliseconds of the commit: no Redis flag, no queued task, no task dispatch. Several
worker processes listen alike; the drain lock lets one of them drain a (subscription,
partition) at a time, and the others return at once. The lanes' own sweep, timers for
retries and saga deadlines work as in the embedded run; Celery still carries beat's
sweep and the drain tasks it sends, the safety net.

Started from Celery's worker signals: in the main process for a threads or solo pool,
in each child for a prefork pool (no thread or connection survives a fork).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings

from celery import Celery, current_app
from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.signals import (
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)

from ..delivery.subscriptions import registry
from ..log.writer import commits_notify
from .inprocess import InProcessDispatcher
from .listener import Listener

logger = logging.getLogger(__name__)


class WorkerDispatcher:
    def __init__(self, queues: Iterable[str], *, default_queue: str) -> None:
        consumed = set(queues)
        served = [s for s in registry.all() if (s.queue or default_queue) in consumed]
        self.served = [s.name for s in served]
        self.lanes = InProcessDispatcher(
            threads=settings.EVENTS_WORKER_THREADS,
            sweep_seconds=settings.EVENTS_SWEEP_SECONDS,
            serves=set(self.served),
        )
        self.listener = Listener(
            served, wake=self.lanes.wake, pending=self.lanes.pending
        )

    def start(self) -> None:
        self.lanes.start()
        self.listener.start()
        logger.info("draining %s on notifications", ", ".join(self.served) or "nothing")

    def stop(self) -> None:
        self.listener.stop()
        self.lanes.stop()


_running: WorkerDispatcher | None = None


def wanted() -> bool:
    """Whether this worker drains on notifications (else only through drain tasks)."""
    return settings.EVENTS_DISPATCHER == "celery" and commits_notify()


def consumed_queues(app: Celery) -> list[str]:
    """The queues this worker consumes (``-Q``), or the default one."""
    chosen = app.amqp.queues.consume_from
    return sorted(chosen) if chosen else [app.conf.task_default_queue]


def start(app: Celery) -> None:
    global _running
    if _running is None and wanted():
        _running = WorkerDispatcher(
            consumed_queues(app), default_queue=app.conf.task_default_queue
        )
        _running.start()


def stop() -> None:
    global _running
    if _running is not None:
        _running.stop()
        _running = None


@worker_ready.connect
def _on_worker_ready(sender: object, **_: object) -> None:
    if not isinstance(getattr(sender, "pool", None), PreforkPool):
        start(current_app)


@worker_process_init.connect
def _on_child_start(**_: object) -> None:
    start(current_app)


@worker_shutdown.connect
@worker_process_shutdown.connect
def _on_shutdown(**_: object) -> None:
    stop()
