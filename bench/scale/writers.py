"""The writers' wall of ``make bench-scale``: how many transactions per second the log
takes when every writer hits one partition, and when they spread over all of them.

A writer holds its partition's counter row from taking offsets to its commit
(``events.log.writer``), so writers of one partition commit one at a time: the hold
is the transaction's tail (the log INSERT, the commit and its WAL flush). Threads of
this process publish one message per transaction (``bench.noop``, no dispatcher
woken) for a fixed time, first with keys of one partition, then with keys spread over
every partition; the ratio shows what the head lock costs when keys are hot.
"""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from django.db import connections, transaction

THREADS = 8
SECONDS = 4.0


@dataclass
class WriterRow:
    spread: str  # "one partition" or "N partitions"
    threads: int
    commits_per_second: float
    p50_ms: float
    p99_ms: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def keys_of(partitions: list[int], count: int, total: int) -> list[str]:
    from events.log.partitions import partition_for

    wanted = set(partitions)
    found = (f"w{i}" for i in itertools.count())
    return list(
        itertools.islice((k for k in found if partition_for(k, total) in wanted), count)
    )


def run_writers(keys: list[str], seconds: float, threads: int) -> list[float]:
    from bench.app.contracts import Noop
    from events.log.outbox import publish

    stop = threading.Event()
    times: list[list[float]] = [[] for _ in range(threads)]

    def write(number: int) -> None:
        try:
            mine = itertools.cycle(keys[number::threads] or keys)
            while not stop.is_set():
                began = time.perf_counter()
                with transaction.atomic():
                    publish(Noop(key=next(mine), n=number))
                times[number].append(time.perf_counter() - began)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    time.sleep(seconds)
    stop.set()
    for worker in workers:
        worker.join(30)
    return [t for per in times for t in per]


def measure_writers(partitions: int = 8) -> list[WriterRow]:
    from bench.common import db, harness

    rows = []
    for label, chosen in (
        ("one partition", [0]),
        (f"{partitions} partitions", list(range(partitions))),
    ):
        db.reset(partitions)
        keys = keys_of(chosen, 64, partitions)
        with harness.dispatcher(harness.NullDispatcher()):
            commits = sorted(run_writers(keys, SECONDS, THREADS))
        rows.append(
            WriterRow(
                spread=label,
                threads=THREADS,
                commits_per_second=len(commits) / SECONDS,
                p50_ms=statistics.median(commits) * 1000,
                p99_ms=commits[int(0.99 * (len(commits) - 1))] * 1000,
            )
        )
    return rows


def lines(rows: list[WriterRow]) -> list[str]:
    out = [
        f"writers: {THREADS} threads, one message per transaction, {SECONDS:g} s each",
        f"{'keys in':>14} {'commits/s':>9} {'p50 ms':>7} {'p99 ms':>7}",
    ]
    for row in rows:
        out.append(
            f"{row.spread:>14} {row.commits_per_second:>9.0f} {row.p50_ms:>7.2f} "
            f"{row.p99_ms:>7.2f}"
        )
    return out
