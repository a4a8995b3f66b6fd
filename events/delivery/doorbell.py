"""Knocks on a drain in progress, from this process's dispatcher.

A wake-up for a (subscription, partition) whose drain is already running here is
otherwise only noted, for a look again once that drain ends. A window of outside calls
(``events.delivery.window``) stays in its drain as long as its calls take (8 s for a
slow payment provider), and must start the calls of messages committed meanwhile: it
waits for one of its calls to end or for a knock. Where nobody knocks (drains run as
Celery tasks: ``EVENTS_WAKE=broker``) it looks at the log every ``LOOK_SECONDS``; where
a dispatcher knocks, every ``LOST_KNOCK_SECONDS``, so a lost knock only delays.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future

from .checkpoints import Target

LOOK_SECONDS = 0.05
LOST_KNOCK_SECONDS = 1.0

_guard = threading.Lock()
_knocks: dict[Target, Future[None]] = {}
_knockers = 0  # dispatchers of this process that are started, and knock


def listen(target: Target) -> Future[None]:
    """A future that the next knock on ``target`` completes. Taken before looking at
    the log, so that a knock arriving between the look and the wait is not lost."""
    with _guard:
        knock = _knocks.get(target)
        if knock is None or knock.done():
            knock = _knocks[target] = Future()
        return knock


def knock(target: Target) -> None:
    """New messages may wait for ``target``'s drain in progress."""
    with _guard:
        waiting = _knocks.pop(target, None)
    if waiting is not None:
        waiting.set_result(None)


def look_seconds() -> float:
    """How long a window waits for its calls before it looks at the log anyway."""
    return LOST_KNOCK_SECONDS if _knockers else LOOK_SECONDS


def knocking(started: bool) -> None:
    """A dispatcher of this process started (``True``) or stopped knocking."""
    global _knockers
    with _guard:
        _knockers = max(_knockers + (1 if started else -1), 0)
