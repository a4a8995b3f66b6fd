"""The benchmark database: created if missing, migrated, and reset between scenarios.

Every scenario starts from empty platform tables (log, heads, checkpoints, inbox, dead
letters) and empty bench tables, so no figure depends on what ran before it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import connection

import psycopg
from psycopg import sql

PLATFORM_TABLES = (
    "events_log",
    "events_partition_head",
    "events_checkpoint",
    "events_inbox",
    "events_dead_letter",
    "events_partition_cut",
    "events_partition_gate",
    "events_subscription_pause",
)
BENCH_TABLES = ("bench_row", "bench_handled")


class UnsafeDatabase(RuntimeError):
    """The configured database is not one the benchmark may truncate."""


def _params(dbname: str | None = None) -> dict[str, Any]:
    db = settings.DATABASES["default"]
    params = {
        "dbname": dbname or db["NAME"],
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
    }
    return {k: v for k, v in params.items() if v is not None}


def connect(*, autocommit: bool = True) -> psycopg.Connection:
    """A plain psycopg connection to the benchmark database (for the baselines)."""
    return psycopg.connect(**_params(), autocommit=autocommit)


def describe() -> str:
    db = settings.DATABASES["default"]
    return f"{db.get('HOST') or 'local'}:{db.get('PORT') or 5432}/{db['NAME']}"


def check_target() -> None:
    """Refuse anything but a PostgreSQL database named for benchmarking: the runner
    truncates the platform tables, and DATABASE_URL may point at a real shop."""
    db = settings.DATABASES["default"]
    if not db["ENGINE"].endswith("postgresql"):
        raise UnsafeDatabase(f"the benchmark runs on PostgreSQL, not {db['ENGINE']}")
    if "bench" not in db["NAME"]:
        raise UnsafeDatabase(
            f"refusing to truncate database {db['NAME']!r}: its name must contain "
            "'bench' (set DATABASE_URL=postgres://.../shop_bench)"
        )


def ensure_database() -> bool:
    """Create the database if it does not exist; True when it was created."""
    name = settings.DATABASES["default"]["NAME"]
    with psycopg.connect(**_params("postgres"), autocommit=True) as admin:
        found = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if found:
            return False
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return True


def migrate() -> None:
    call_command("migrate", verbosity=0, interactive=False)


def reset(partitions: int | None = None) -> None:
    """Empty the platform's and the benchmark's tables (and restart their ids), and
    put the partition layout back at ``partitions`` (default ``EVENTS_PARTITIONS``)."""
    tables = ", ".join((*PLATFORM_TABLES, *BENCH_TABLES))
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY")
        cursor.execute(
            "UPDATE events_partition_layout SET partitions = %s, generation = 1",
            [partitions or settings.EVENTS_PARTITIONS],
        )


def analyze() -> None:
    """Fresh planner statistics after a bulk load, as autovacuum would give a shop
    that has been running (a just-filled table otherwise has none)."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE " + ", ".join((*PLATFORM_TABLES, *BENCH_TABLES)))


def server_settings() -> dict[str, str]:
    names = (
        "server_version",
        "synchronous_commit",
        "fsync",
        "shared_buffers",
        "max_connections",
    )
    with connection.cursor() as cursor:
        result = {}
        for name in names:
            cursor.execute(f"SHOW {name}")
            result[name] = cursor.fetchone()[0]
    return result
