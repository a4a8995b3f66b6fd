"""Draining one (subscription, partition): read, handle, checkpoint; retry or park.

Guarantees:

* **Order per key.** Messages of a partition are handled in offset order; a failing
  message holds its partition back (later messages wait) until it succeeds or is
  dead-lettered. After it is parked the partition moves on, so a later message for the
  same key can be handled before the parked one is redriven: handlers that care (a
  saga, a projection) treat a redriven, older message as late.
* **Exactly-once effect for handlers in this database.** A batch's inbox rows, effects,
  published messages and the checkpoint move (compare-and-set) commit in one
  transaction (``events.delivery.recording``); a crash anywhere before commit leaves
  nothing, and the batch is read again.
* **Outside handlers** run with no transaction open; their results (inbox rows,
  published messages, checkpoint) are recorded in a short transaction afterwards: the
  calls of a run of outside messages together, once ``RECORD_SECONDS`` of calls have
  passed, at the run's end, or before a failed call is counted (as a Kafka consumer
  commits its offsets every interval, not every message). A crash before the record
  calls those handlers again with the same ``ctx.idempotency_key``: at most
  ``RECORD_SECONDS`` of calls, plus the one in progress, are made twice.
* **Outages.** A subscription paused for an outage holds the partitions whose front
  message failed until a probe is due; then one drain takes the probe and delivers
  one message. A partition whose front message never failed tries it, a message at a
  time. Any success resumes the subscription (``events.delivery.outages``).
* **Batches.** Up to ``batch_size`` messages share a transaction. When a batch fails
  (a handler raised, or its stream appends collided at the end), it is rolled back and
  redone one message per transaction: the messages before the bad one commit, and the
  bad one alone counts a failed attempt (a retry with backoff, then a dead letter).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from uuid import UUID

from ..errors import ConcurrencyConflict
from ..log import reader
from ..log.pending import PendingMessage
from ..messages import Envelope
from ..models import Checkpoint, SubscriptionPause
from . import checkpoints, doorbell, inbox, outages, waiting, window
from .checkpoints import CheckpointMoved, Where
from .failures import DrainResult, record_failure
from .handling import HandlerFailed, is_outside, local_effects, run_outside
from .locks import drain_lock
from .recording import Move, record_delivery, recorded, require_no_transaction
from .subscriptions import Subscription

logger = logging.getLogger("events.delivery")

# Messages per drain turn; then the drain yields so one busy partition cannot starve
# the others (the in-process dispatcher and the Celery task both re-queue it).
TURN_LIMIT = 5000

# The calls of a run of outside messages are recorded together once this much time
# has gone to them: a 5 ms call shares its transaction with about nine others, a call
# that takes this long or longer is recorded alone.
RECORD_SECONDS = 0.05


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
                # The holder may be a window of calls in this process, which starts
                # what came when knocked (``events.delivery.doorbell``).
                doorbell.knock((subscription.name, partition))
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
    while True:
        where = checkpoints.where(subscription, partition)
        if _stops_here(subscription, partition, where, result, limit):
            return
        probing = claimed = False
        if where.paused:
            # A front message that never failed is tried whenever it comes (at most
            # one call per partition the outage has not held yet); a failed one
            # waits for the probe, which one drain of all takes.
            claimed = not where.untried and where.probe_due
            claimed = claimed and outages.claim_probe(subscription.name)
            if not where.untried and not claimed:
                result.retry_at = _next_probe(subscription)
                return
            probing = True
        try:
            if probing:
                _probe(subscription, partition, where, result, scheduled=claimed)
                continue
            if subscription.concurrency > 1:
                window.drain_window(subscription, partition, result, limit, where)
                return
            batch = reader.read(
                partition,
                after=where.position,
                upto=where.head,
                topics=subscription.topics,
                types=subscription.handled_types,
                limit=subscription.batch_size,
            )
            complete = len(batch) < subscription.batch_size
            end = where.head if complete else batch[-1].offset
            _deliver(subscription, batch, Move(partition, where.position, end), result)
        except _Failed as failed:
            # Counted with the checkpoint just before the message; then look again
            # (a retry is pending, or the message was parked and the rest flows).
            record_failure(
                subscription,
                partition,
                failed.envelope,
                failed.error,
                failed.position,
                result,
            )
            continue
        except CheckpointMoved:
            logger.info(
                "%s p%s: checkpoint moved; re-reading", subscription.name, partition
            )
            continue
        finally:
            waiting.notify_advanced()
        if complete:
            return  # caught up with the head read above; drain() looks again unlocked


def _stops_here(
    subscription: Subscription,
    partition: int,
    where: Where,
    result: DrainResult,
    limit: int | None,
) -> bool:
    """Whether the drain ends before reading: its ``limit`` is reached (more to
    come), a retry is pending (``result.retry_at`` says when), or it caught up."""
    if limit is not None and result.handled >= limit:
        result.more = True
        return True
    if where.retry_pending:
        result.retry_at = Checkpoint.objects.get(
            subscription=subscription.name, partition=partition
        ).retry_at
        return True
    return where.head <= where.position


def _next_probe(subscription: Subscription) -> datetime | None:
    """When a paused subscription is looked at again (None: paused by hand)."""
    return (
        SubscriptionPause.objects.filter(subscription=subscription.name)
        .values_list("probe_at", flat=True)
        .first()
    )


def _probe(
    subscription: Subscription,
    partition: int,
    where: Where,
    result: DrainResult,
    *,
    scheduled: bool,
) -> None:
    """Deliver the one message at the front of the partition: its success ends the
    pause when it shows that what failed works (``Subscription.shows_working``: a
    local read-model update of a subscription that mails says nothing of the mail
    server, and the partition just goes on to its next message); the outage's
    failure holds it, and schedules the next probe if this was the ``scheduled`` one
    (else it was a message never tried, which now waits too); another failure ends
    the pause too (the outage is over; the message's own failure is counted as
    usual)."""
    (envelope,) = reader.read(
        partition,
        after=where.position,
        upto=where.head,
        topics=subscription.topics,
        types=subscription.handled_types,
        limit=1,
    ) or (None,)
    end = envelope.offset if envelope is not None else where.head
    try:
        _deliver(
            subscription,
            [envelope] if envelope is not None else [],
            Move(partition, where.position, end),
            result,
        )
    except _Failed as failed:
        if outages.is_outage(subscription.name, failed.error):
            if scheduled:
                outages.probe_failed(subscription.name)
        else:
            result.resumed |= outages.resume(
                subscription.name, why=f"a probe failed otherwise: {failed.error}"
            )
        raise
    if envelope is not None and subscription.shows_working([envelope]):
        result.resumed |= outages.resume(subscription.name, why="a probe succeeded")


class _Failed(Exception):
    """One message failed: count the attempt with the checkpoint at ``position``."""

    def __init__(self, envelope: Envelope, error: BaseException, position: int) -> None:
        super().__init__(str(error))
        self.envelope, self.error, self.position = envelope, error, position


def _deliver(
    subscription: Subscription,
    batch: Sequence[Envelope],
    move: Move,
    result: DrainResult,
) -> None:
    """Deliver ``batch`` (read after ``move.expected``), segment by segment; the
    checkpoint ends at ``move.to`` (past messages not for this subscription). Raises
    _Failed for the message that failed, after the ones before it committed."""
    position = move.expected
    for segment, end in _segments(subscription, batch, move.to):
        _deliver_segment(
            subscription, segment, Move(move.partition, position, end), result
        )
        position = end
    if position < move.to:  # the tail holds no message of this subscription
        record_delivery(subscription, [], move=Move(move.partition, position, move.to))


def _segments(
    subscription: Subscription, batch: Sequence[Envelope], end: int
) -> Iterator[tuple[Sequence[Envelope], int]]:
    """Runs of messages for handlers in this database and runs of messages for outside
    handlers, with the offset each run's checkpoint move ends at."""
    index = 0
    while index < len(batch):
        outside = is_outside(subscription, batch[index])
        stop = index + 1
        while stop < len(batch) and is_outside(subscription, batch[stop]) == outside:
            stop += 1
        yield batch[index:stop], end if stop == len(batch) else batch[stop - 1].offset
        index = stop


def _deliver_segment(
    subscription: Subscription,
    segment: Sequence[Envelope],
    move: Move,
    result: DrainResult,
) -> None:
    """Outside calls, or one transaction for the segment with one fallback when it
    fails: a message per transaction, so that only the bad message counts a failed
    attempt."""
    if is_outside(subscription, segment[0]):
        _deliver_calls(subscription, segment, move, result)
        return
    try:
        fresh = record_delivery(
            subscription, segment, effects=local_effects(subscription), move=move
        )
        result.handled += len(fresh or ())
        return
    except (HandlerFailed, ConcurrencyConflict) as error:
        if len(segment) == 1:
            cause = error.error if isinstance(error, HandlerFailed) else error
            raise _Failed(segment[0], cause, move.expected) from error
    position = move.expected
    for index, envelope in enumerate(segment):
        to = move.to if index == len(segment) - 1 else envelope.offset
        _deliver_segment(
            subscription, [envelope], Move(move.partition, position, to), result
        )
        position = to


def _deliver_calls(
    subscription: Subscription,
    run: Sequence[Envelope],
    move: Move,
    result: DrainResult,
) -> None:
    """Call the run's outside handlers in order, with no transaction open (messages
    handled before are not called again), and record the calls made in one transaction
    each time ``RECORD_SECONDS`` have gone to them, at the end, and before raising
    _Failed for a call that failed (or for the first of a record whose stream appends
    collided: its calls are made again, with their keys)."""
    require_no_transaction()
    handled_before = inbox.handled(subscription.name, [e.message_id for e in run])
    position, start = move.expected, 0
    while start < len(run):
        stop, published, failure = _make_calls(subscription, run, start, handled_before)
        if stop > start:
            called = run[start:stop]
            end = move.to if stop == len(run) else called[-1].offset
            try:
                fresh = record_delivery(
                    subscription,
                    called,
                    effects=recorded(published),
                    move=Move(move.partition, position, end),
                )
            except ConcurrencyConflict as conflict:
                raise _Failed(called[0], conflict, position) from conflict
            result.handled += len(fresh or ())
            position, start = end, stop
        if failure is not None:
            raise _Failed(run[stop], failure.error, position) from failure


def _make_calls(
    subscription: Subscription,
    run: Sequence[Envelope],
    start: int,
    handled_before: set[UUID],
) -> tuple[int, dict[UUID, list[PendingMessage]], HandlerFailed | None]:
    """Call from ``run[start]`` on until ``RECORD_SECONDS`` have passed, the run ends
    or a call fails; returns where it stopped (the failed message's index, if one
    failed), what each call published, and the failure."""
    began = time.monotonic()
    published: dict[UUID, list[PendingMessage]] = {}
    for index in range(start, len(run)):
        envelope = run[index]
        if envelope.message_id not in handled_before:
            try:
                context = run_outside(subscription, envelope)
            except HandlerFailed as error:
                return index, published, error
            published[envelope.message_id] = context.published
        if time.monotonic() - began >= RECORD_SECONDS:
            return index + 1, published, None
    return len(run), published, None
