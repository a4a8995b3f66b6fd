"""Parts of the tests of windows of outside calls (``events.delivery.window``)."""

from __future__ import annotations

import threading

from events.delivery.subscriptions import Subscription
from events.log.partitions import partition_for

from .messages import DoThing

MEET = 10.0  # seconds a call waits for another before the test fails


def keys_in_one_partition(count: int) -> tuple[int, list[str]]:
    """``count`` keys that hash to the same partition, and that partition."""
    by_partition: dict[int, list[str]] = {}
    for i in range(10_000):
        key = f"k{i}"
        found = by_partition.setdefault(partition_for(key), [])
        found.append(key)
        if len(found) == count:
            return partition_for(key), found
    raise AssertionError("no partition got enough keys")


def first_call_waits_for_the_second(
    sub: Subscription, first: str
) -> tuple[threading.Event, threading.Event]:
    """Declare ``sub``'s outside call of DoThing: the call for key ``first`` returns
    only once another call has started. Returns (first started, second started)."""
    first_started, second_started = threading.Event(), threading.Event()

    @sub.handles(DoThing, outside=True)
    def call(command: DoThing, ctx: object) -> None:
        if command.thing_id == first:
            first_started.set()
            assert second_started.wait(MEET), "the second call never started"
        else:
            second_started.set()

    return first_started, second_started
