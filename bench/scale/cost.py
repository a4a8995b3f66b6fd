"""The CPU one message of the I/O-bound subscription costs, for the model of
``docs/scaling.md``: measured in CPU time, which a busy machine slows less than it
slows wall-clock rates.

One drain in this process (the same ``events.delivery.drain.drain`` a worker runs)
delivers ``messages`` from one partition; this process's CPU time
(``time.process_time``) and its PostgreSQL backend's (``utime + stime`` of
``/proc/<pid>/stat``: the server runs on this machine) are read before and after.
Divided by the messages: what each costs the workers and the database, whatever
runs beside them. With C cores, no worker count delivers more than
``C / (app + database)`` messages per second.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.db import connection, transaction

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Cost:
    messages: int
    app_ms: float  # CPU of the draining process per message
    database_ms: float  # CPU of its PostgreSQL backend per message
    wall_ms: float  # per message, one drain, this machine as it is now
    call_ms: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def cores_bound(self, cores: int) -> float:
        """Messages per second that ``cores`` can deliver at most."""
        return cores * 1000 / (self.app_ms + self.database_ms)


def backend_cpu_seconds() -> float | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():  # the server is elsewhere
        return None
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def measure_cost(messages: int, call_ms: float) -> Cost:
    from bench.app import handlers
    from bench.app.contracts import CallMade
    from bench.common import db, harness
    from events.delivery.drain import drain
    from events.log import reader
    from events.log.outbox import publish

    db.reset(8)
    subscription = handlers.calls
    with harness.dispatcher(harness.NullDispatcher()), transaction.atomic():
        publish(*(CallMade(key="one-key", n=n) for n in range(messages)))
    (partition,) = [p for p, h in reader.heads().items() if h]
    harness.park_others(subscription, {partition: messages})
    db_before, app_before = backend_cpu_seconds(), time.process_time()
    began = time.perf_counter()
    handled = 0
    while handled < messages:
        handled += drain(subscription, partition).handled
    wall = time.perf_counter() - began
    db_after, app_after = backend_cpu_seconds(), time.process_time()
    database = (
        (db_after - db_before) / messages * 1000
        if db_before is not None and db_after is not None
        else float("nan")
    )
    return Cost(
        messages=messages,
        app_ms=(app_after - app_before) / messages * 1000,
        database_ms=database,
        wall_ms=wall / messages * 1000,
        call_ms=call_ms,
    )


def lines(cost: Cost, cores: int) -> list[str]:
    return [
        f"cost of one message (one drain in this process, {cost.messages} messages): "
        f"CPU {cost.app_ms:.2f} ms in the worker + {cost.database_ms:.2f} ms in "
        f"PostgreSQL; wall {cost.wall_ms:.1f} ms of which {cost.call_ms:g} ms is the "
        "call",
        f"  so {cores} cores deliver at most {cost.cores_bound(cores):.0f} msgs/s "
        "whatever the worker count (the model in docs/scaling.md)",
    ]
