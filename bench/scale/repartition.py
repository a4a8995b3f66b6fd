"""The live raise of ``make bench-scale``: 8 to 16 partitions while writers publish
and Celery workers deliver the I/O-bound subscription, with every key's order checked.

Writers (threads, each owning its keys) publish one message per transaction at a
fixed total rate, ``n`` increasing per key. After a warm-up the raise runs as the
command runs it (``events.ops.repartition.switch``, then ``wait_settled`` waking the
workers through the Celery dispatcher); the writers go on through it and after it.
Then every message is awaited, and checked: each one handled once (its inbox row),
and each key's messages handled in ``n`` order (``handled_in_order``, from the inbox
rows). A writer's commit time shows the pause: the cut holds new writes while the ones
in flight commit.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import connections, transaction

WRITERS, KEYS_PER_WRITER = 4, 16
RATE = 120.0  # messages per second, all writers together
PROCESSES = 20  # worker processes: the 16 partitions' drains, and room for the rest
WARM_SECONDS, AFTER_SECONDS = 4.0, 4.0


@dataclass
class Sent:
    key: str
    n: int
    message_id: UUID
    partition: int
    began: float  # perf_counter when its transaction began
    seconds: float  # to commit


class Writer(threading.Thread):
    def __init__(self, number: int, rate: float, stop: threading.Event) -> None:
        super().__init__(name=f"bench-writer-{number}", daemon=True)
        self.keys = [f"w{number}-key{i}" for i in range(KEYS_PER_WRITER)]
        self.interval = 1.0 / rate
        self.stop = stop
        self.sent: list[Sent] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        from bench.app.contracts import CallMade
        from events.log.outbox import publish

        try:
            due = time.perf_counter()
            while not self.stop.is_set():
                key = self.keys[len(self.sent) % len(self.keys)]
                n = len(self.sent) // len(self.keys)
                began = time.perf_counter()
                with transaction.atomic():
                    (item,) = publish(CallMade(key=key, n=n))
                took = time.perf_counter() - began
                self.sent.append(
                    Sent(key, n, item.message_id, item.partition, began, took)
                )
                due += self.interval
                time.sleep(max(0.0, due - time.perf_counter()))
        except BaseException as error:
            self.error = error
        finally:
            connections.close_all()


@dataclass(frozen=True)
class Handled:
    """Where and when a message's inbox row says it was handled."""

    at: datetime  # handled_at: when the record's transaction claimed it
    partition: int
    offset: int


def handled_in_order(handled: Sequence[Handled]) -> bool:
    """Whether one key's messages (in the order they were published) were handled in
    that order. Outside calls of a run are recorded together (events.delivery.drain),
    so messages of one record share their ``handled_at``: they are one partition's,
    called in offset order. A tie across partitions cannot be ordered and counts as a
    violation."""
    for before, after in zip(handled, handled[1:], strict=False):
        if before.at != after.at:
            if after.at < before.at:
                return False
        elif before.partition != after.partition or after.offset <= before.offset:
            return False
    return True


@dataclass
class RaiseReport:
    published: int
    keys: int
    keys_moved: int
    keys_moved_with_both_layouts: int
    switch_seconds: float  # the plan, the checkpoints made, the cut
    settle_seconds: float  # from the cut to every subscription past the fences
    commit_p50_ms: float
    commit_p99_ms: float
    commit_max_during_switch_ms: float
    lost: int
    order_violations: int
    load_before: float
    load_after: float
    violations: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        ok = "kept" if not self.order_violations and not self.lost else "BROKEN"
        return [
            "live raise 8 -> 16 partitions under load "
            f"({RATE:g} msgs/s, {WRITERS} writers, {PROCESSES} worker processes):",
            f"  published {self.published} messages of {self.keys} keys; "
            f"{self.keys_moved} keys moved partition, "
            f"{self.keys_moved_with_both_layouts} of them with messages on both sides",
            f"  switch {self.switch_seconds * 1000:.0f} ms (plan + cut); old layout "
            f"drained by every subscription {self.settle_seconds:.2f} s after the cut",
            f"  writers' commits p50 {self.commit_p50_ms:.1f} ms, p99 "
            f"{self.commit_p99_ms:.1f} ms; longest during the switch "
            f"{self.commit_max_during_switch_ms:.1f} ms (the pause)",
            f"  per-key order {ok}: {self.order_violations} keys out of order, "
            f"{self.lost} messages not handled (each handled message has one inbox "
            "row); load average "
            f"{self.load_before:.1f} -> {self.load_after:.1f}",
        ]


def raise_workers() -> int:
    return PROCESSES


def raise_under_load(*, quick: bool = False) -> RaiseReport:
    from bench.app import handlers
    from bench.common import db, harness
    from events.dispatch.celery import CeleryDispatcher
    from events.log import reader
    from events.log.partitions import partition_for
    from events.models import Checkpoint, InboxEntry
    from events.ops import repartition

    db.reset(8)
    subscription = handlers.calls
    load_before = os.getloadavg()[0]
    stop = threading.Event()
    dispatcher = CeleryDispatcher()
    with harness.dispatcher(dispatcher):
        writers = [Writer(i, RATE / WRITERS, stop) for i in range(WRITERS)]
        for writer in writers:
            writer.start()
        time.sleep(WARM_SECONDS / (2 if quick else 1))
        began = time.perf_counter()
        cut = repartition.switch(16)
        switched = time.perf_counter()
        left = repartition.wait_settled(
            cut.generation, timeout=300, wake=dispatcher.wake
        )
        settled = time.perf_counter()
        if left:
            stop.set()
            raise RuntimeError(f"not settled: {repartition.describe(left)}")
        time.sleep(AFTER_SECONDS / (2 if quick else 1))
        stop.set()
        for writer in writers:
            writer.join(30)
            if writer.error is not None:
                raise writer.error
        heads = {p: h for p, h in reader.heads().items() if h}
        dispatcher.wake([(subscription.name, p) for p in heads])
        harness.wait_caught_up(subscription, heads, desc="deliver the rest")
    load_after = os.getloadavg()[0]
    sent = [s for writer in writers for s in writer.sent]
    handled = {
        message_id: Handled(at, partition, offset)
        for message_id, at, partition, offset in InboxEntry.objects.filter(
            subscription=subscription.name
        ).values_list("message_id", "handled_at", "partition", "offset")
    }
    lost = sum(1 for s in sent if s.message_id not in handled)
    violations = []
    by_key: dict[str, list[Sent]] = {}
    for s in sent:
        by_key.setdefault(s.key, []).append(s)
    for key, items in by_key.items():
        ordered = sorted(items, key=lambda s: s.n)
        known = [handled[s.message_id] for s in ordered if s.message_id in handled]
        if not handled_in_order(known):
            violations.append(key)
    moved = {k for k in by_key if partition_for(k, 8) != partition_for(k, 16)}
    both = {k for k in moved if {s.partition < 8 for s in by_key[k]} == {True, False}}
    commits = sorted(s.seconds for s in sent)
    during = [s.seconds for s in sent if began - 0.05 <= s.began <= switched]
    assert Checkpoint.objects.filter(subscription=subscription.name).exists()
    return RaiseReport(
        published=len(sent),
        keys=len(by_key),
        keys_moved=len(moved),
        keys_moved_with_both_layouts=len(both),
        switch_seconds=switched - began,
        settle_seconds=settled - switched,
        commit_p50_ms=statistics.median(commits) * 1000,
        commit_p99_ms=commits[int(0.99 * (len(commits) - 1))] * 1000,
        commit_max_during_switch_ms=max(during, default=0.0) * 1000,
        lost=lost,
        order_violations=len(violations),
        load_before=load_before,
        load_after=load_after,
        violations=violations[:10],
    )
