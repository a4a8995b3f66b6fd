"""Mutual exclusion of drains: one drain per (subscription, partition) at a time.

On PostgreSQL a session-level advisory lock: it spans the several transactions of a
drain (and the outside calls between them, which hold no transaction), and the server
drops it when the holder's connection dies, so a SIGKILLed worker never leaves a
partition locked (https://www.postgresql.org/docs/15/explicit-locking.html#ADVISORY-LOCKS).
On SQLite, the embedded single-process setup, a lock inside this process.

The lock is for efficiency and order, not for correctness: every checkpoint update is
a compare-and-set on the position read before the batch, so if two drains ever did
overlap (a replay from another process on SQLite), one batch would roll back whole.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

logger = logging.getLogger(__name__)

_local_locks: dict[tuple[str, int], threading.Lock] = {}
_local_guard = threading.Lock()


def _signed32(value: int) -> int:
    return value - (1 << 32) if value >= (1 << 31) else value


@contextmanager
def drain_lock(subscription: str, partition: int) -> Iterator[bool]:
    """Try to take the drain lock; yields whether it was taken (never waits)."""
    if connection.vendor == "postgresql":
        key = (_signed32(zlib.crc32(subscription.encode())), partition)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
            (acquired,) = cursor.fetchone()
        try:
            yield acquired
        finally:
            if acquired:
                _unlock_pg(key)
        return
    with _local_guard:
        lock = _local_locks.setdefault((subscription, partition), threading.Lock())
    acquired = lock.acquire(blocking=False)
    try:
        yield acquired
    finally:
        if acquired:
            lock.release()


def _unlock_pg(key: tuple[int, int]) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
    except Exception:  # a dead connection has already released it server-side
        logger.warning("could not release drain lock %s; closing the connection", key)
        connection.close()
