"""Baselines: what this database does for the same rows without the platform.

* one INSERT per committed transaction, through psycopg and through the Django ORM:
  the floor every per-message commit pays (a WAL flush per commit);
* multi-row INSERTs, ``BATCH`` rows per statement and per transaction, through psycopg
  and through the ORM's bulk_create: what a batching consumer could at best reach.

Each writes ``bench_row`` rows shaped like the projection's (uuid, key, int).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from uuid import uuid4

from django.db import transaction

from bench.app.models import Row
from bench.common import db

BATCH = 500
_INSERT = "INSERT INTO bench_row (message_id, key, value) VALUES "


def _timed(step: Callable[[int], int], *, seconds: float, max_rows: int) -> float:
    """Run ``step(i)`` (returns rows written) until ``seconds`` pass or ``max_rows``
    are written; rows per second."""
    db.reset()
    step(0)  # warm: connection, prepared plan
    db.reset()
    rows, start = 0, time.perf_counter()
    deadline = start + seconds
    while rows < max_rows and time.perf_counter() < deadline:
        rows += step(rows)
    return rows / (time.perf_counter() - start)


def psycopg_single(*, seconds: float, max_rows: int) -> float:
    with db.connect(autocommit=True) as conn:
        sql = _INSERT + "(%s, %s, %s)"

        def step(i: int) -> int:
            conn.execute(sql, (uuid4(), f"k{i}", i), prepare=True)
            return 1

        return _timed(step, seconds=seconds, max_rows=max_rows)


def orm_single(*, seconds: float, max_rows: int) -> float:
    def step(i: int) -> int:
        Row.objects.create(message_id=uuid4(), key=f"k{i}", value=i)  # autocommit
        return 1

    return _timed(step, seconds=seconds, max_rows=max_rows)


def psycopg_multirow(*, seconds: float, max_rows: int) -> float:
    with db.connect(autocommit=True) as conn:
        sql = _INSERT + ", ".join(["(%s, %s, %s)"] * BATCH)

        def step(i: int) -> int:
            params: list[object] = []
            for n in range(i, i + BATCH):
                params += (uuid4(), f"k{n}", n)
            conn.execute(sql, params, prepare=True)
            return BATCH

        return _timed(step, seconds=seconds, max_rows=max_rows)


def orm_bulk_create(*, seconds: float, max_rows: int) -> float:
    def step(i: int) -> int:
        with transaction.atomic():
            Row.objects.bulk_create(
                Row(message_id=uuid4(), key=f"k{n}", value=n)
                for n in range(i, i + BATCH)
            )
        return BATCH

    return _timed(step, seconds=seconds, max_rows=max_rows)


def run(*, quick: bool) -> dict[str, float]:
    single: dict[str, Any] = {"seconds": 1.0 if quick else 3.0, "max_rows": 100_000}
    multi: dict[str, Any] = {"seconds": 1.0 if quick else 3.0, "max_rows": 200_000}
    return {
        "psycopg_single": psycopg_single(**single),
        "orm_single": orm_single(**single),
        "psycopg_multirow": psycopg_multirow(**multi),
        "orm_bulk_create": orm_bulk_create(**multi),
    }
