"""What every delivery scenario shares: loading the log, waiting for the checkpoints,
and keeping the dispatcher out of the way while loading."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import transaction

from tqdm import tqdm

from events import log
from events.checkpoints import Target
from events.dispatch import set_dispatcher
from events.messages import Message
from events.models import Checkpoint, DeadLetter
from events.outbox import publish
from events.subscriptions import Subscription, registry

PUBLISH_BATCH = 500


class NullDispatcher:
    """Ignores wake-ups: used while the log is loaded, so nothing drains early."""

    def wake(self, targets: Iterable[Target]) -> None:
        return None


@contextmanager
def dispatcher(instance: object | None) -> Iterator[None]:
    set_dispatcher(instance)  # type: ignore[arg-type]
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
    outbox, ``PUBLISH_BATCH`` per transaction, waking nobody; returns the heads."""
    with dispatcher(NullDispatcher()), progress(count, "load log") as bar:
        for start in range(0, count, PUBLISH_BATCH):
            stop = min(start + PUBLISH_BATCH, count)
            with transaction.atomic():
                publish(*(message_type(key=f"k{i}", n=i) for i in range(start, stop)))
            bar.update(stop - start)
    return {p: h for p, h in log.heads().items() if h > 0}


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
