"""Several outside calls of one partition in flight at once, one key at a time.

One drain per (subscription, partition) keeps a key's messages in order, but with
outside handlers handled one at a time a slow service (a payment provider answering in
8 s) caps the whole partition at one call per latency. A subscription declared with
``concurrency=N`` (every handler ``outside=True``) is drained through a window instead,
in the shape of Confluent's parallel consumer in key order:

* the drain reads ahead and starts the call of each message whose key has no earlier
  message unfinished, while fewer than N calls are in flight (threads of a pool owned
  by this drain; each closes its own database connection when its call ends);
* each call's outcome is recorded as soon as it ends, in a short transaction: the inbox
  row and the messages it published, with the checkpoint moved over the finished
  prefix of the partition (compare-and-set). A message finished ahead of the prefix
  has its inbox row, so a crash before the checkpoint catches up redelivers it to
  nothing: it is not called again;
* a failed call stops the window from starting anything after it; the calls before it
  finish and are recorded, then the failure is counted (retry with backoff, or a dead
  letter) with the checkpoint just before it, as for one-at-a-time delivery;
* the drain never returns while a call it started is in flight, so the drain lock
  always covers every call: no two drains run the same message at once.

Throughput of such a subscription is bounded by ``EVENTS_PARTITIONS x concurrency``
calls in flight divided by the outside latency (and by how keys spread over
partitions).
"""

from __future__ import annotations

import logging
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from ..log import reader
from ..log.pending import PendingMessage
from ..messages import Envelope
from . import checkpoints, doorbell, inbox, waiting
from .failures import DrainResult, record_failure
from .handling import HandlerFailed, run_outside
from .recording import Move, record_delivery, recorded
from .subscriptions import Subscription

logger = logging.getLogger("events.delivery")


@dataclass
class _Window:
    subscription: Subscription
    partition: int
    position: int  # the checkpoint: every message up to it is finished
    read_to: int  # every message up to here has been read
    unfinished: list[Envelope] = field(default_factory=list)  # in offset order
    finished: set[int] = field(default_factory=set)  # offsets, ahead of the prefix
    running: dict[Future[list[PendingMessage]], Envelope] = field(default_factory=dict)
    failed: tuple[Envelope, BaseException] | None = None

    @property
    def capacity(self) -> int:
        return self.subscription.concurrency - len(self.running)


def drain_window(
    subscription: Subscription,
    partition: int,
    result: DrainResult,
    limit: int | None,
    where: checkpoints.Where,
) -> None:
    """Deliver ``partition`` to ``subscription`` with up to ``concurrency`` calls in
    flight, until caught up, a failure is recorded, or ``limit`` messages were handled.
    The caller holds the drain lock."""
    window = _Window(subscription, partition, where.position, where.position)
    with ThreadPoolExecutor(
        max_workers=subscription.concurrency,
        thread_name_prefix=f"{subscription.name}-p{partition}",
    ) as pool:
        try:
            _run(window, pool, result, limit)
        finally:
            # Never leave a call running outside the drain lock (the pool's exit
            # would wait as well; an error here drops their outcomes: redelivered).
            wait(list(window.running))


def _run(
    window: _Window, pool: ThreadPoolExecutor, result: DrainResult, limit: int | None
) -> None:
    target = (window.subscription.name, window.partition)
    while True:
        knocked = doorbell.listen(target)
        reading = window.failed is None and (limit is None or result.handled < limit)
        if reading:
            _read_more(window)
        _start(window, pool)
        if not window.running:
            if window.failed is not None:  # everything before it is finished
                envelope, error = window.failed
                record_failure(
                    window.subscription,
                    window.partition,
                    envelope,
                    error,
                    window.position,
                    result,
                )
                return
            if not reading:
                result.more = True
                return
            if not window.unfinished:
                return  # caught up with the head read last
            continue
        # Until a call ends, or a knock says new messages came (else, now and then,
        # a look at the log: ``events.delivery.doorbell``).
        waited: list[Future[Any]] = [*window.running, knocked]
        done, _ = wait(
            waited,
            timeout=doorbell.look_seconds(),
            return_when=FIRST_COMPLETED,
        )
        done.discard(knocked)
        for future in sorted(done, key=lambda f: window.running[f].offset):
            _finish(window, future, result)


def _read_more(window: _Window) -> None:
    """Read ahead, up to a few windows' worth of unfinished messages of the types it
    handles. Messages handled before (a redelivery) are finished as they are read."""
    room = 4 * window.subscription.concurrency - len(window.unfinished)
    if room <= 0:
        return
    head = checkpoints.where(window.subscription, window.partition).head
    if head <= window.read_to:
        return
    batch = reader.read(
        window.partition,
        after=window.read_to,
        upto=head,
        topics=window.subscription.topics,
        types=window.subscription.handled_types,
        limit=room,
    )
    # A short read has every message up to ``head`` (the log has no holes below a
    # head read before); a full one stops at its last message.
    window.read_to = head if len(batch) < room else batch[-1].offset
    handled = inbox.handled(window.subscription.name, [e.message_id for e in batch])
    for envelope in batch:
        window.unfinished.append(envelope)
        if envelope.message_id in handled:
            window.finished.add(envelope.offset)
    _advance(window)


def _start(window: _Window, pool: ThreadPoolExecutor) -> None:
    """Start each message whose key has nothing earlier unfinished, while a slot is
    free; after a failure, only messages before the failed one."""
    before = window.failed[0].offset if window.failed else None
    running = {envelope.offset for envelope in window.running.values()}
    blocked = {envelope.key for envelope in window.running.values()}
    for envelope in window.unfinished:
        if window.capacity <= 0 or (before is not None and envelope.offset >= before):
            return
        if envelope.offset in window.finished or envelope.offset in running:
            continue
        if envelope.key not in blocked:
            future = pool.submit(_call, window.subscription, envelope)
            window.running[future] = envelope
        blocked.add(envelope.key)


def _call(subscription: Subscription, envelope: Envelope) -> list[PendingMessage]:
    try:
        return run_outside(subscription, envelope).published
    finally:
        connection.close()  # this pool thread's own connection


def _finish(
    window: _Window, future: Future[list[PendingMessage]], result: DrainResult
) -> None:
    envelope = window.running.pop(future)
    try:
        published = future.result()
    except HandlerFailed as failed:
        if window.failed is None or envelope.offset < window.failed[0].offset:
            window.failed = (envelope, failed.error)
        return
    window.finished.add(envelope.offset)
    if _advance(window, envelope, published):
        result.handled += 1
    waiting.notify_advanced()


def _advance(
    window: _Window,
    recorded_now: Envelope | None = None,
    published: list[PendingMessage] | None = None,
) -> bool:
    """In one transaction: record ``recorded_now`` (its inbox row and what it
    published) and move the checkpoint over the finished prefix. True when the row
    was new."""
    stop = 0
    while stop < len(window.unfinished) and (
        window.unfinished[stop].offset in window.finished
    ):
        stop += 1
    prefix, rest = window.unfinished[:stop], window.unfinished[stop:]
    # Offsets between messages belong to topics or types this subscription skips.
    target = rest[0].offset - 1 if rest else window.read_to
    if recorded_now is None and target <= window.position:
        return False
    calls = {recorded_now.message_id: published or []} if recorded_now else {}
    fresh = record_delivery(
        window.subscription,
        [recorded_now] if recorded_now is not None else [],
        effects=recorded(calls),
        move=Move(window.partition, window.position, target),
    )
    window.position = max(window.position, target)
    window.unfinished = rest
    window.finished.difference_update(e.offset for e in prefix)
    return bool(fresh)
