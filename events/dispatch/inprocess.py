"""The in-process dispatcher: worker threads inside the serving process.

Each subscription gets its own small pool of threads (a lane), so a subscription stuck
in slow handlers occupies only its own threads and never delays another one. Each
(subscription, partition) is drained by at most one thread at a time; a wake-up for a
pair that is being drained makes that drain look again instead of queueing a second
one. A sweep thread catches up after a restart and after a lost wake-up (and expires
overdue saga steps), and timers bring back partitions whose retry is due.

Commits of other processes (``manage.py catalog add`` beside the embedded server) wake
nothing here: with ``watch_seconds`` the sweep thread also reads the partitions' heads
that often (one small query) and, when they moved, wakes what is behind, so such a
message is delivered within that period rather than at the next sweep. Until
``start()`` is called (the WSGI entry calls it) wake-ups are ignored: a management
command never delivers, the server's sweep picks its messages up.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime

from django.db import close_old_connections, connections
from django.utils import timezone

from ..delivery import doorbell
from ..delivery.checkpoints import Target, pending_targets
from ..delivery.drain import TURN_LIMIT, drain
from ..delivery.subscriptions import UnknownSubscription, registry
from ..log import reader
from ..sagas.deadlines import expire_overdue

logger = logging.getLogger(__name__)

# A lane thread that has waited this long for work closes its database session. A
# process has a lane per subscription it serves (each of ``threads`` threads), so
# sessions kept by idle lanes grow with subscriptions x threads x processes: twenty
# worker processes ran a server of 400 sessions out of them (``make bench-scale``).
LANE_IDLE_SECONDS = 5.0


class InProcessDispatcher:
    def __init__(
        self,
        *,
        threads: int,
        sweep_seconds: float,
        watch_seconds: float | None = None,
        serves: set[str] | None = None,
        idle_seconds: float = LANE_IDLE_SECONDS,
    ) -> None:
        """``serves``: the subscriptions this dispatcher drains (None: all of them);
        ``idle_seconds``: how long a lane thread waits for work before it gives its
        database session back (the next drain opens a new one)."""
        self._serves = serves
        self._idle_seconds = idle_seconds
        self._threads_per_lane = threads
        self._sweep_seconds = sweep_seconds
        self._watch_seconds = watch_seconds
        self._lanes: dict[str, queue.Queue[Target | None]] = {}
        self._lock = threading.Lock()
        self._queued: set[Target] = set()
        self._running: set[Target] = set()
        self._again: set[Target] = set()
        self._timers: dict[Target, threading.Timer] = {}
        self._threads: list[threading.Thread] = []
        self._started = False
        self._stop = threading.Event()

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
            self._stop.clear()
            doorbell.knocking(True)
            self._spawn(self._sweep, "events-sweep")

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the drains in progress, then end every thread."""
        self._stop.set()
        with self._lock:
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()
            threads, self._threads = self._threads, []
            for lane in self._lanes.values():
                for _ in range(self._threads_per_lane):
                    lane.put(None)
            self._lanes.clear()
            if self._started:
                doorbell.knocking(False)
            self._started = False
        for thread in threads:
            thread.join(timeout)

    def pending(self) -> list[Target]:
        """What is behind, of the subscriptions this dispatcher serves."""
        return [t for t in pending_targets() if self._serving(t)]

    def _serving(self, target: Target) -> bool:
        return self._serves is None or target[0] in self._serves

    def wake(self, targets: Iterable[Target]) -> None:
        if not self._started or self._stop.is_set():
            return
        for target in targets:
            if not self._serving(target):
                continue
            with self._lock:
                running = target in self._running
                if running:
                    self._again.add(target)
                elif target in self._queued:
                    continue
                else:
                    self._queued.add(target)
                    lane = self._lane(target[0])
            if running:
                doorbell.knock(target)  # a window of calls starts what came
            else:
                lane.put(target)

    def _lane(self, subscription: str) -> queue.Queue[Target | None]:
        """The subscription's queue; its threads start on first use (hold the lock)."""
        lane = self._lanes.get(subscription)
        if lane is None:
            lane = self._lanes[subscription] = queue.Queue()
            for number in range(self._threads_per_lane):
                self._spawn(lambda: self._work(lane), f"events-{subscription}-{number}")
        return lane

    def _spawn(self, run: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _work(self, lane: queue.Queue[Target | None]) -> None:
        # Once stopping, targets still queued are left (the sweep of the next start
        # finds their work): a stopped dispatcher finishes its drains in progress
        # only, and no thread of it touches the database after stop() returns.
        try:
            while not self._stop.is_set():
                try:
                    target = lane.get(timeout=self._idle_seconds)
                except queue.Empty:
                    connections.close_all()
                    continue
                if target is None or self._stop.is_set():
                    return
                self._run(target)
        finally:
            connections.close_all()

    def _run(self, target: Target) -> None:
        with self._lock:
            self._queued.discard(target)
            self._running.add(target)
        retry_at = None
        more = resumed = False
        try:
            subscription = registry.get(target[0])
            while True:
                close_old_connections()
                result = drain(subscription, target[1], limit=TURN_LIMIT)
                retry_at, more = result.retry_at, result.more
                resumed |= result.resumed
                # Decide to stop and stop being "running" in one locked step, so a
                # wake-up can never fall between the two and be dropped.
                with self._lock:
                    if target in self._again and not self._stop.is_set():
                        self._again.discard(target)
                        continue
                    self._running.discard(target)
                    break
        except Exception as error:
            with self._lock:
                self._running.discard(target)
                self._again.discard(target)
            if isinstance(error, UnknownSubscription):
                logger.warning("no subscription %r any more; dropped", target[0])
            else:
                logger.exception("drain of %s failed; the sweep will retry", target)
            return
        if resumed:  # a probe ended the subscription's pause: every partition flows
            self.wake([(target[0], p) for p in reader.heads()])
        if more:
            self.wake([target])
        elif retry_at is not None:
            self._wake_at(target, retry_at)

    def _wake_at(self, target: Target, when: datetime) -> None:
        delay = max((when - timezone.now()).total_seconds(), 0.0)
        timer = threading.Timer(delay, self.wake, args=([target],))
        timer.daemon = True
        with self._lock:
            if self._stop.is_set():
                return
            previous = self._timers.pop(target, None)
            if previous is not None:
                previous.cancel()
            self._timers[target] = timer
        timer.start()

    def _sweep(self) -> None:
        """Every sweep period: wake what is behind and expire overdue saga steps.
        Every watch period in between: wake what is behind if the heads moved."""
        seen: dict[int, int] | None = None
        next_sweep = 0.0
        try:
            while True:
                try:
                    close_old_connections()
                    heads = reader.heads() if self._watch_seconds else None
                    due = time.monotonic() >= next_sweep
                    if due or heads != seen:
                        self.wake(self.pending())
                    if due:
                        expire_overdue()
                        next_sweep = time.monotonic() + self._sweep_seconds
                    seen = heads
                except Exception:
                    logger.exception("sweep failed; trying again next period")
                if self._stop.wait(self._watch_seconds or self._sweep_seconds):
                    return
        finally:
            connections.close_all()
