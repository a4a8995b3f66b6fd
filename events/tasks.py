"""Celery entry points: thin, taking ids only; the work lives in ``events.delivery``.

Tasks are idempotent (a drain reads its position from the database), so they ack late
and are re-queued if their worker dies."""

from __future__ import annotations

import logging

from celery import shared_task

from .checkpoints import pending_targets
from .delivery import TURN_LIMIT, drain
from .dispatch.celery import clear_flag
from .retention import prune as prune_log
from .sagas import expire_overdue
from .subscriptions import UnknownSubscription, registry

logger = logging.getLogger(__name__)


def send_drain(subscription: str, partition: int, **options: object) -> None:
    """Queue a drain task on the subscription's own queue, if it declares one."""
    queue = registry.get(subscription).queue
    if queue:
        options["queue"] = queue
    drain_partition.apply_async((subscription, partition), **options)


@shared_task(name="events.drain", acks_late=True, reject_on_worker_lost=True)
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
    report = prune_log()
    return sum(report.deleted.values())


@shared_task(name="events.expire_sagas")
def expire_sagas() -> int:
    """Saga steps past their deadline count as failed (see events.sagas)."""
    return expire_overdue()
