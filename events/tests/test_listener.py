"""The listener's wake-ups, on real PostgreSQL notifications: a commit wakes at once
the subscriptions that handle what it wrote, and later the ones that only read the
topic (their drain would just move the checkpoint past it)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from django.db import transaction

import pytest

from events.delivery.checkpoints import Target
from events.delivery.subscriptions import Subscription, registry
from events.dispatch.current import set_dispatcher
from events.dispatch.listener import Listener
from events.log.outbox import publish
from events.log.writer import ring
from tests.effects.contracts import RunJob
from tests.effects.subscriptions import RUNNER, runner

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
SKIPPER = "t.skipper"  # reads w.jobs, handles nothing there
DEFER = 0.5


class NoWakeUps:
    def wake(self, targets: Iterable[Target]) -> None:
        return None


class Wakes:
    """What the listener woke, and when."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, set[Target]]] = []
        self._changed = threading.Condition()

    def __call__(self, targets: set[Target]) -> None:
        if not targets:  # the catch-up on connecting: nothing is behind here
            return
        with self._changed:
            self.seen.append((time.monotonic(), set(targets)))
            self._changed.notify_all()

    def when(self, target: Target, timeout: float = 10.0) -> float:
        """When ``target`` was first woken (waiting for it)."""
        with self._changed:
            self._changed.wait_for(
                lambda: any(target in woken for _, woken in self.seen), timeout
            )
        for at, woken in self.seen:
            if target in woken:
                return at
        raise AssertionError(f"{target} was not woken within {timeout}s: {self.seen}")


@pytest.fixture
def wakes(settings: Any) -> Iterator[Wakes]:
    settings.EVENTS_WAKE = "notify"
    set_dispatcher(NoWakeUps())  # only the commit's own NOTIFY rings
    skipper = Subscription(SKIPPER, topics=("w.jobs",))
    seen = Wakes()
    listener = Listener([runner, skipper], wake=seen, pending=list, defer_seconds=DEFER)
    listener.start()
    try:
        assert listener.listening.wait(10)
        yield seen
    finally:
        listener.stop()
        registry.unregister(SKIPPER)
        set_dispatcher(None)


def test_a_commit_wakes_its_handlers_at_once_and_the_readers_that_skip_later(wakes):
    # when a transaction commits a job (its NOTIFY may reach the listener before
    # the commit returns here, so the deferral is measured from before it began)
    began = time.monotonic()
    with transaction.atomic():
        (item,) = publish(RunJob(key="k", n=1))
    # then the runner, which handles jobs, is woken at once, alone
    handled_at = wakes.when((RUNNER, item.partition))
    assert wakes.seen[0][1] == {(RUNNER, item.partition)}
    # and the subscription that would only skip the job, once the deferral is over
    skipped_at = wakes.when((SKIPPER, item.partition))
    assert skipped_at - began >= DEFER
    assert skipped_at > handled_at


def test_a_bell_that_names_no_type_wakes_every_reader_at_once(wakes):
    # when something that is not a commit rings the topic (a resume, a repartition)
    with transaction.atomic():
        ring([("w.jobs", 3)])
    # then both readers are woken together, in the first wake-up: nothing is deferred
    wakes.when((SKIPPER, 3))
    assert wakes.seen[0][1] == {(RUNNER, 3), (SKIPPER, 3)}
