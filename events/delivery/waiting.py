"""Waiting, bounded and without sleeping in callers, until a subscription has processed
a position: read-your-writes for code, and the way tests wait for delivery.

In-process drains wake waiters at once through a condition; a drain in another process
(a Celery worker) is seen by polling the checkpoint every ``poll`` seconds."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from ..log.pending import PendingMessage
from ..messages import Envelope
from ..models import Checkpoint

_advanced = threading.Condition()


class WaitTimeout(TimeoutError):
    """The subscription did not reach the position in time."""


def notify_advanced() -> None:
    """Called after a checkpoint moved in this process."""
    with _advanced:
        _advanced.notify_all()


def wait_for_position(
    subscription: str,
    partition: int,
    offset: int,
    *,
    timeout: float = 10.0,
    poll: float = 0.05,
) -> None:
    """Return once ``subscription`` has processed (or dead-lettered) ``offset`` of
    ``partition``; raise WaitTimeout after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        checkpoint = Checkpoint.objects.filter(
            subscription=subscription, partition=partition
        ).first()
        if checkpoint is not None and checkpoint.position >= offset:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            state = (
                f"at {checkpoint.position}, "
                f"last error: {checkpoint.last_error or 'none'}"
                if checkpoint
                else "not started"
            )
            raise WaitTimeout(
                f"{subscription} did not reach p{partition}@{offset} within "
                f"{timeout}s ({state})"
            )
        with _advanced:
            _advanced.wait(min(poll, remaining))


def wait_for_messages(
    subscription: str,
    messages: Iterable[PendingMessage | Envelope],
    *,
    timeout: float = 10.0,
) -> None:
    """Wait until ``subscription`` has processed every one of ``messages``."""
    deadline = time.monotonic() + timeout
    targets: dict[int, int] = {}
    for item in messages:
        if item.offset is None:
            raise ValueError("a message that is not written yet has no position")
        targets[item.partition] = max(targets.get(item.partition, 0), item.offset)
    for partition, offset in sorted(targets.items()):
        wait_for_position(
            subscription,
            partition,
            offset,
            timeout=max(deadline - time.monotonic(), 0.001),
        )
