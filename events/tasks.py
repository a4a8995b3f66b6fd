"""Celery entry points: thin, taking ids only; the work lives in the wings.

Tasks are idempotent (a drain reads its position from the database), so they ack late
and are re-queued if their worker dies."""

from __future__ import annotations

import logging

from celery import shared_task

from .commands import idempotency
from .delivery.checkpoints import pending_targets
from .delivery.drain import TURN_LIMIT, drain
from .delivery.subscriptions import UnknownSubscription, registry
from .dispatch import (
    worker,  # noqa: F401  (a worker's own dispatcher, on its signals)
    worker_metrics,  # noqa: F401  (its metrics server, on its signals)
)
from .dispatch.celery import DRAIN_TASK, clear_flag, send_drain
from .log import reader
from .ops.retention import prune_log
from .sagas.deadlines import expire_overdue

logger = logging.getLogger(__name__)


@shared_task(name=DRAIN_TASK, acks_late=True, reject_on_worker_lost=True)
def drain_partition(subscription: str, partition: int) -> None:
    try:
        declared = registry.get(subscription)
    except UnknownSubscription:
        logger.warning(
            "no subscription %r any more; dropping its drain task", subscription
        )
        return
    clear_flag(subscription, partition)
    result = drain(declared, partition, limit=TURN_LIMIT)
    if result.resumed:  # a probe ended the subscription's pause: every partition flows
        for other in reader.heads():
            if other != partition:
                send_drain(subscription, other)
    if result.more:
        send_drain(subscription, partition)
    elif result.retry_at is not None:
        send_drain(subscription, partition, eta=result.retry_at)


@shared_task(name="events.sweep")
def sweep() -> int:
    """Find what a lost wake-up or a broker outage left behind, and drain it."""
    targets = pending_targets()
    for subscription, partition in targets:
        send_drain(subscription, partition)
    return len(targets)


@shared_task(name="events.prune")
def prune() -> int:
    """Messages past their topic's retention that every reader has passed."""
    report = prune_log()
    return sum(report.deleted.values())


@shared_task(name="events.expire_sagas")
def expire_sagas() -> int:
    """Saga steps past their deadline count as failed (see events.sagas.engine)."""
    return expire_overdue()


@shared_task(name="events.prune_idempotency_keys")
def prune_idempotency_keys() -> int:
    """Expired idempotency keys, deleted hourly by beat."""
    return idempotency.prune_expired_keys()
