"""What every delivery scenario shares: loading the log, waiting for the checkpoints,
and keeping every drain out of the way while loading."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import transaction

from tqdm import tqdm

from events.delivery import outages
from events.delivery.checkpoints import Target
from events.delivery.subscriptions import Subscription, registry
from events.dispatch.current import Dispatcher, set_dispatcher
from events.log import reader
from events.log.outbox import publish
from events.messages import Message
from events.models import Checkpoint, DeadLetter
from events.ops import status
from processes.waiting import wait_until

PUBLISH_BATCH = 500


class NullDispatcher:
    """Ignores wake-ups: used while the log is loaded, so nothing drains early."""

    def wake(self, targets: Iterable[Target]) -> None:
        return None


@contextmanager
def dispatcher(instance: Dispatcher | None) -> Iterator[None]:
    set_dispatcher(instance)
    try:
        yield
    finally:
        set_dispatcher(None)


def progress(total: int, desc: str) -> tqdm:
    return tqdm(
        total=total, desc=desc, unit="msg", file=sys.stderr, leave=False, disable=None
    )


def preload(message_type: type[Message], count: int) -> dict[int, int]:
    """Publish ``count`` messages (keys k0..kN, spread over the partitions) through the
    outbox, ``PUBLISH_BATCH`` per transaction, waking nobody; returns the heads.

    Every subscription is paused by hand first and stays paused (``release`` ends
    it): workers already running drain on their own (a commit's NOTIFY, their
    sweep), which no dispatcher of this process holds back."""
    for subscription in registry.all():
        outages.pause_by_hand(
            subscription.name, reason="the benchmark is loading the log", by="bench"
        )
    with dispatcher(NullDispatcher()), progress(count, "load log") as bar:
        for start in range(0, count, PUBLISH_BATCH):
            stop = min(start + PUBLISH_BATCH, count)
            with transaction.atomic():
                publish(*(message_type(key=f"k{i}", n=i) for i in range(start, stop)))
            bar.update(stop - start)
    return {p: h for p, h in reader.heads().items() if h > 0}


def park_others(subscription: Subscription, heads: dict[int, int]) -> None:
    """Put every other subscription's checkpoints at the heads, so a sweep wakes only
    the one under test (the others would just pass over the messages)."""
    for other in registry.all():
        if other.name == subscription.name:
            continue
        for partition, head in heads.items():
            Checkpoint.objects.update_or_create(
                subscription=other.name,
                partition=partition,
                defaults={"position": head},
            )


def release(
    subscription: Subscription, heads: dict[int, int], waker: Dispatcher
) -> None:
    """End the loading pauses and wake the subscription under test's partitions
    through ``waker`` (a dispatcher): the start of a measured drain."""
    for each in registry.all():
        outages.resume(each.name, why="the benchmark's log is loaded")
    waker.wake([(subscription.name, partition) for partition in heads])


class Stalled(RuntimeError):
    """The subscription made no progress for too long."""


def wait_caught_up(
    subscription: Subscription,
    heads: dict[int, int],
    *,
    poll: float = 0.01,
    stall_seconds: float = 60.0,
    desc: str = "deliver",
) -> None:
    """Return once every checkpoint of ``subscription`` has reached its head (polls
    one query every ``poll`` seconds: in-process or in a worker, the same way)."""
    total = sum(heads.values())
    last_done, last_change = -1, time.monotonic()
    with progress(total, desc) as bar:
        while True:
            positions = dict(
                Checkpoint.objects.filter(subscription=subscription.name).values_list(
                    "partition", "position"
                )
            )
            done = sum(min(positions.get(p, 0), h) for p, h in heads.items())
            bar.update(done - bar.n)
            if done >= total:
                return
            now = time.monotonic()
            if done != last_done:
                last_done, last_change = done, now
            elif now - last_change > stall_seconds:
                errors = list(
                    Checkpoint.objects.filter(subscription=subscription.name)
                    .exclude(last_error="")
                    .values_list("partition", "last_error")[:3]
                )
                raise Stalled(
                    f"{subscription.name}: no progress for {stall_seconds:.0f}s at "
                    f"{done}/{total}; errors: {errors or 'none'}"
                )
            time.sleep(poll)


def dead_letters() -> int:
    return DeadLetter.objects.count()


def behind() -> set[str]:
    """The subscriptions with a message of their topics left to process."""
    return {
        row.subscription
        for subscription in registry.all()
        for row in status.partition_status(subscription)
        if row.lag
    }


def wait_all_caught_up(*, timeout: float = 120.0) -> None:
    """Until no subscription has a message of its topics left to process (a sweep
    wakes those that a commit did not)."""
    wait_until(
        lambda: not behind(),
        "every subscription to catch up",
        timeout=timeout,
        interval=0.25,
        explain=lambda: f"still behind: {sorted(behind())}",
    )
