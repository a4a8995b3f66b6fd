"""Placing the orders open loop, and watching the provider while they go through.

Open loop: each order is due at its instant (``bench.blackfriday.arrivals``),
whatever happened to the ones before it. The main thread hands each order to a pool of
placer threads at its due time; a placer runs the accept path,
``events.bus.execute(PlaceOrder(...))`` (one durable transaction, then the wake-ups
after commit; no HTTP), and the accept latency is taken from the due time, not from
when a placer got to it: a slow accept that makes the next orders wait shows in their
latency instead of slowing the schedule down (no coordinated omission). The service
time (from the start of ``execute``) is kept beside it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection

from bench.app import provider
from bench.blackfriday.shop import Planned
from events.commands import bus
from events.errors import DomainError


@dataclass
class Placed:
    """What happened to one planned order at accept."""

    planned: Planned
    due: float  # perf_counter seconds
    latency: float = 0.0  # due -> execute returned
    service: float = 0.0  # execute start -> returned
    refused: str = ""  # a DomainError's class name: the shop said no
    error: str = ""  # anything else

    @property
    def accepted(self) -> bool:
        return not (self.refused or self.error)


@dataclass
class Placement:
    orders: list[Placed]
    started: float  # perf_counter at the first due time
    wall_started: float  # time.time() at the same moment
    finished: float  # perf_counter when the last placer returned

    @property
    def seconds(self) -> float:
        return self.finished - self.started


def warm_up(order: Planned) -> None:
    """One order through the accept path before the clock starts, so the first timed
    ones do not pay for this process's first imports and caches (not counted)."""
    bus.execute(order.command)


def place(
    planned: list[Planned],
    *,
    due: list[float],
    placers: int,
    progress: Callable[[int], None],
) -> Placement:
    """Place each order at its ``due`` offset (seconds from the start) from ``placers``
    threads (each connected to the database before the first is due); returns once the
    last one has returned."""
    work: queue.Queue[Placed | None] = queue.Queue()
    done: list[Placed] = []
    lock = threading.Lock()
    ready = threading.Barrier(placers + 1)

    def placer() -> None:
        try:
            try:
                connection.ensure_connection()  # connected before the clock starts
            finally:
                ready.wait()
            while (item := work.get()) is not None:
                began = time.perf_counter()
                try:
                    bus.execute(item.planned.command)
                except DomainError as refused:
                    item.refused = type(refused).__name__
                except Exception as error:  # counted and shown, never fatal
                    item.error = f"{type(error).__name__}: {error}"
                ended = time.perf_counter()
                item.latency, item.service = ended - item.due, ended - began
                with lock:
                    done.append(item)
                progress(1)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=placer, name=f"placer-{n}", daemon=True)
        for n in range(placers)
    ]
    for thread in threads:
        thread.start()
    ready.wait()
    wall_started = time.time()
    started = time.perf_counter() + 0.05  # the clock starts in 50 ms
    try:
        for order, offset in zip(planned, due, strict=True):
            at = started + offset
            delay = at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            work.put(Placed(order, at))
    finally:
        for _ in threads:
            work.put(None)
        for thread in threads:
            thread.join()
    return Placement(
        orders=sorted(done, key=lambda p: p.planned.number),
        started=started,
        wall_started=wall_started + 0.05,
        finished=time.perf_counter(),
    )


@dataclass
class InFlight:
    """The provider's in-flight counter, sampled every ``interval`` seconds, and the
    PostgreSQL sessions on the bench database, every ``sessions_every`` samples (each
    call in flight holds a session of its own)."""

    interval: float = 0.1
    sessions_every: int = 10
    samples: list[tuple[float, int]] = field(default_factory=list)  # (time.time(), n)
    peak: int = 0  # the adapter's own record (exact)
    calls: int = 0
    sessions_peak: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        client = provider.counters()
        try:
            while not self._stop.wait(self.interval):
                now, self.peak, self.calls = provider.read(client)
                self.samples.append((time.time(), now))
                if len(self.samples) % self.sessions_every == 1:
                    self.sessions_peak = max(self.sessions_peak, _sessions())
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        _, self.peak, self.calls = provider.read(provider.counters())

    def between(self, start: float, end: float) -> list[int]:
        """The samples taken between two ``time.time()`` moments."""
        return [n for at, n in self.samples if start <= at <= end]


def _sessions() -> int:
    """PostgreSQL sessions connected to this database (every process of the bench)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        )
        return int(cursor.fetchone()[0])
