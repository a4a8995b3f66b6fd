"""Placing the orders open loop, and watching the provider while they go through.

Open loop: each order is due at its instant (``bench.blackfriday.arrivals``),
whatever happened to the ones before it. The main thread hands each order to a pool of
placer threads (``Placers``: connected, and warmed by an untimed order each, before the
clock starts) at its due time; a placer runs the accept path,
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
from collections.abc import Callable, Sequence
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


class WarmUpFailed(RuntimeError):
    """An untimed order placed before the clock failed: the shop is not ready."""


class Placers:
    """``count`` placer threads, for one placing.

    Entering starts them: each connects to the database and places its order of
    ``warm_up`` (untimed; at most one each), so that no timed order pays for a
    placer's first statements on a new database session; it returns once they all
    have (``WarmUpFailed`` if one failed). The runner then waits for those orders'
    journeys (``bench.blackfriday.run``) and calls :meth:`place`. Leaving stops the
    threads and closes their connections, whatever happened."""

    def __init__(self, count: int, *, warm_up: Sequence[Planned] = ()) -> None:
        self.warm_up = list(warm_up)
        self._work: queue.Queue[Placed | None] = queue.Queue()
        self._done: list[Placed] = []
        self._failed: list[str] = []
        self._lock = threading.Lock()
        self._ready = threading.Barrier(count + 1)
        self._progress: Callable[[int], None] = lambda n: None
        self._threads = [
            threading.Thread(target=self._placer, args=(n,), name=f"placer-{n}")
            for n in range(count)
        ]

    def __enter__(self) -> Placers:
        for thread in self._threads:
            thread.daemon = True
            thread.start()
        try:
            self._ready.wait()
            if self._failed:
                raise WarmUpFailed(
                    f"an untimed order before the clock failed: {self._failed[0]}"
                )
        except BaseException:
            self._ready.abort()  # a placer still at the barrier (Ctrl-C) ends too
            self._stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop()

    def place(
        self,
        planned: list[Planned],
        *,
        due: list[float],
        progress: Callable[[int], None],
    ) -> Placement:
        """Place each order at its ``due`` offset (seconds from the start); returns
        once the last one has returned."""
        self._progress = progress
        wall_started = time.time()
        started = time.perf_counter() + 0.05  # the clock starts in 50 ms
        for order, offset in zip(planned, due, strict=True):
            at = started + offset
            delay = at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            self._work.put(Placed(order, at))
        self._stop()
        return Placement(
            orders=sorted(self._done, key=lambda p: p.planned.number),
            started=started,
            wall_started=wall_started + 0.05,
            finished=time.perf_counter(),
        )

    def _stop(self) -> None:
        """Let every placer finish what it was handed, then end it."""
        if not any(thread.is_alive() for thread in self._threads):
            return
        for _ in self._threads:
            self._work.put(None)
        for thread in self._threads:
            thread.join()

    def _placer(self, n: int) -> None:
        try:
            try:
                connection.ensure_connection()
                if n < len(self.warm_up):
                    bus.execute(self.warm_up[n].command)
            except Exception as error:
                self._failed.append(f"{type(error).__name__}: {error}")
            try:
                self._ready.wait()
            except threading.BrokenBarrierError:
                return  # the runner gave up before the clock
            while (item := self._work.get()) is not None:
                began = time.perf_counter()
                try:
                    bus.execute(item.planned.command)
                except DomainError as refused:
                    item.refused = type(refused).__name__
                except Exception as error:  # counted and shown, never fatal
                    item.error = f"{type(error).__name__}: {error}"
                ended = time.perf_counter()
                item.latency, item.service = ended - item.due, ended - began
                with self._lock:
                    self._done.append(item)
                self._progress(1)
        finally:
            connection.close()


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
