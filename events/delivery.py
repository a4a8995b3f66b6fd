"""Draining one (subscription, partition): read, handle, checkpoint; retry or park.

Guarantees:

* **Order per key.** Messages of a partition are handled in offset order; a failing
  message holds its partition back (later messages wait) until it succeeds or is
  dead-lettered. After it is parked the partition moves on, so a later message for the
  same key can be handled before the parked one is redriven: handlers that care (a
  saga) treat a redriven, older message as late.
* **Exactly-once effect for handlers in this database.** A batch's inbox rows, effects,
  published messages and the checkpoint move (compare-and-set) commit in one
  transaction; a crash anywhere before commit leaves nothing, and the batch is read
  again.
* **Outside handlers** run with no transaction open; their result (inbox row,
  published messages, checkpoint) is recorded in a short transaction afterwards. A
  crash between the two calls the handler again with the same ``ctx.idempotency_key``.
* **Batches.** Up to ``batch_size`` messages share a transaction; when one fails, the
  batch is rolled back, the messages before it are committed on their own, and only
  the failing one is retried.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.db import connection, transaction

from . import checkpoints, inbox, log, waiting, window
from .checkpoints import CheckpointMoved
from .failures import DrainResult, record_failure
from .handling import HandlerFailed, is_outside, run_local, run_outside
from .locks import drain_lock
from .messages import Envelope
from .models import Checkpoint
from .outbox import UnitOfWork
from .store import ConcurrencyConflict
from .subscriptions import Subscription

logger = logging.getLogger(__name__)

# Messages per drain turn; then the drain yields so one busy partition cannot starve
# the others (the in-process dispatcher and the Celery task both re-queue it).
TURN_LIMIT = 5000


def drain(
    subscription: Subscription, partition: int, *, limit: int | None = None
) -> DrainResult:
    """Deliver what is waiting in ``partition`` to ``subscription``, until the partition
    is caught up, a retry is pending, or ``limit`` messages were handled.

    Returns with ``busy`` when another drain holds the partition. After releasing the
    lock it looks again, so a message committed while another holder was finishing is
    never left behind by a wake-up that found the lock taken."""
    result = DrainResult()
    while True:
        with drain_lock(subscription.name, partition) as acquired:
            if not acquired:
                result.busy = True
                return result
            _drain_locked(subscription, partition, result, limit)
        if result.retry_at or result.more or not _has_work(subscription, partition):
            return result


def _has_work(subscription: Subscription, partition: int) -> bool:
    return checkpoints.where(subscription, partition).has_work


def _drain_locked(
    subscription: Subscription, partition: int, result: DrainResult, limit: int | None
) -> None:
    where = checkpoints.where(subscription, partition)
    while True:
        if limit is not None and result.handled >= limit:
            result.more = True
            return
        if where.retry_pending:
            result.retry_at = Checkpoint.objects.get(
                subscription=subscription.name, partition=partition
            ).retry_at
            return
        if where.head <= where.position:
            return
        if subscription.concurrency > 1:
            try:
                window.drain_window(subscription, partition, result, limit, where)
            except CheckpointMoved:
                logger.info(
                    "%s p%s: checkpoint moved; re-reading", subscription.name, partition
                )
                where = checkpoints.where(subscription, partition)
                continue
            waiting.notify_advanced()
            return
        batch = log.read(
            partition,
            after=where.position,
            upto=where.head,
            topics=subscription.topics,
            limit=subscription.batch_size,
        )
        complete = len(batch) < subscription.batch_size
        end = where.head if complete else batch[-1].offset
        try:
            done = _deliver(
                subscription,
                partition,
                batch,
                start=where.position,
                end=end,
                result=result,
            )
        except CheckpointMoved:
            logger.info(
                "%s p%s: checkpoint moved; re-reading", subscription.name, partition
            )
            done = False
        waiting.notify_advanced()
        if done and complete:
            return  # caught up with the head read above; drain() looks again unlocked
        where = checkpoints.where(subscription, partition)


def _deliver(
    subscription: Subscription,
    partition: int,
    batch: Sequence[Envelope],
    *,
    start: int,
    end: int,
    result: DrainResult,
) -> bool:
    """Deliver ``batch`` (read after ``start``); the checkpoint ends at ``end`` (past
    messages not for this subscription) when everything succeeds. False when a message
    failed (its retry or dead letter is recorded)."""
    position, index = start, 0
    while index < len(batch):
        if is_outside(subscription, batch[index]):
            if not _deliver_outside(subscription, batch[index], position, result):
                return False
            position, index = batch[index].offset, index + 1
            continue
        stop = index
        while stop < len(batch) and not is_outside(subscription, batch[stop]):
            stop += 1
        segment_end = end if stop == len(batch) else batch[stop - 1].offset
        if not _deliver_local(
            subscription, partition, batch[index:stop], position, segment_end, result
        ):
            return False
        position, index = segment_end, stop
    if position < end:
        with transaction.atomic(durable=True):
            checkpoints.advance(subscription.name, partition, expected=position, to=end)
    return True


def _deliver_local(
    subscription: Subscription,
    partition: int,
    envelopes: Sequence[Envelope],
    start: int,
    end: int,
    result: DrainResult,
    *,
    singles: bool = False,
) -> bool:
    """One transaction: inbox, effects, published messages, checkpoint. False when a
    message failed (its retry or dead letter is recorded)."""
    try:
        with transaction.atomic(durable=True):
            handled = [e for e in envelopes if subscription.handler_for(e.type)]
            fresh = inbox.claim(subscription.name, handled)
            unit = UnitOfWork()
            with unit.active():
                unit.add(
                    run_local(
                        subscription,
                        [e for e in handled if e.message_id in fresh],
                        singles=singles,
                    )
                )
            unit.flush()
            checkpoints.advance(subscription.name, partition, expected=start, to=end)
    except ConcurrencyConflict as conflict:
        # The batch's stream appends collided when written at the end (another writer
        # got there first, or two messages of the batch loaded the same aggregate).
        # One message per transaction; a conflict that persists is a failed attempt.
        if len(envelopes) > 1:
            return _deliver_one_by_one(
                subscription, partition, envelopes, start, end, result
            )
        record_failure(subscription, partition, envelopes[0], conflict, start, result)
        return False
    except HandlerFailed as failed:
        if len(failed.envelopes) > 1:  # a batch handler failed: find the bad message
            return _deliver_local(
                subscription, partition, envelopes, start, end, result, singles=True
            )
        bad = envelopes.index(failed.envelopes[0])
        if bad > 0:
            before_end = envelopes[bad - 1].offset
            if not _deliver_local(
                subscription,
                partition,
                envelopes[:bad],
                start,
                before_end,
                result,
                singles=singles,
            ):
                return False
            start = before_end
        record_failure(
            subscription, partition, envelopes[bad], failed.error, start, result
        )
        return False
    result.handled += len(fresh)
    return True


def _deliver_one_by_one(
    subscription: Subscription,
    partition: int,
    envelopes: Sequence[Envelope],
    start: int,
    end: int,
    result: DrainResult,
) -> bool:
    position = start
    for index, envelope in enumerate(envelopes):
        to = end if index == len(envelopes) - 1 else envelope.offset
        if not _deliver_local(
            subscription, partition, [envelope], position, to, result, singles=True
        ):
            return False
        position = to
    return True


def _deliver_outside(
    subscription: Subscription, envelope: Envelope, start: int, result: DrainResult
) -> bool:
    if connection.in_atomic_block:
        raise RuntimeError("outside handlers must run with no transaction open")
    if not inbox.contains(subscription.name, envelope.message_id):
        try:
            context = run_outside(subscription, envelope)
        except HandlerFailed as failed:
            record_failure(
                subscription, envelope.partition, envelope, failed.error, start, result
            )
            return False
        published = context.published
    else:
        published = []
    with transaction.atomic(durable=True):
        if inbox.claim(subscription.name, [envelope]):  # else its messages are in
            result.handled += 1
            unit = UnitOfWork()
            unit.add(published)
            unit.flush()
        checkpoints.advance(
            subscription.name, envelope.partition, expected=start, to=envelope.offset
        )
    return True
