"""The peer: the eventsourcing library (PyPI ``eventsourcing``, pinned in
bench/requirements.txt) on its own PostgreSQL persistence module
(``eventsourcing.postgres``, psycopg 3 with a psycopg_pool pool), in a database of its
own on the same server. Only its public API is used, configured as its documentation
describes: an ``Application`` with ``snapshotting_intervals``, an ``Aggregate`` with
``@event`` methods, ``repository.get``, and a ``ProjectionRunner`` running a
``Projection`` whose materialised view is a ``PostgresTrackingRecorder`` subclass that
writes its row and the tracking record in one transaction per event.

The aggregate is the same tally as ours (total, count, last amount). Its history
starts with the library's ``Created`` event (version 1), so an aggregate of N events
is ``Created`` plus N - 1 ``Added``: the same number of stored events as ours.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.conf import settings

import psycopg
from eventsourcing.application import Application
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner
from psycopg import sql

from bench.app.tally import SNAPSHOT_EVERY


def dbname() -> str:
    """The peer's database: the bench database's name + ``_es`` (so it contains
    "bench" too, and a DATABASE_URL override moves both)."""
    return f"{settings.DATABASES['default']['NAME']}_es"


def environment() -> dict[str, str]:
    """The library's settings (it reads them from a mapping, like os.environ)."""
    db = settings.DATABASES["default"]
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname(),
        "POSTGRES_HOST": db.get("HOST") or "127.0.0.1",
        "POSTGRES_PORT": str(db.get("PORT") or 5432),
        "POSTGRES_USER": db.get("USER") or "postgres",
        "POSTGRES_PASSWORD": db.get("PASSWORD") or "",
    }


def recreate_database() -> None:
    """Drop and create the peer's database: every run starts from empty tables."""
    db = settings.DATABASES["default"]
    params: dict[str, Any] = {
        "dbname": "postgres",
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
    }
    name = dbname()
    if "bench" not in name:  # pragma: no cover (settings.check_target refused it)
        raise RuntimeError(f"refusing to drop {name!r}")
    params = {k: v for k, v in params.items() if v is not None}
    with psycopg.connect(**params, autocommit=True) as admin:
        identifier = sql.Identifier(name)
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(identifier))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(identifier))


class EsTally(Aggregate):
    def __init__(self) -> None:
        self.total = 0
        self.count = 0
        self.last = 0

    @event("Added")
    def add(self, amount: int) -> None:
        self.total += amount
        self.count += 1
        self.last = amount


class LoadsApp(Application[UUID]):
    """Aggregates for the load figures, snapshotted every SNAPSHOT_EVERY versions."""

    name = "bench_loads"
    snapshotting_intervals = {EsTally: SNAPSHOT_EVERY}  # noqa: RUF012


class AppendsApp(Application[UUID]):
    """Aggregates for the append figures (no snapshots, like ours there)."""

    name = "bench_appends"


class RebuildApp(Application[UUID]):
    """The application a projection is rebuilt from (its own events table, so the
    runner reads exactly the events written for it)."""

    name = "bench_rebuild"


def open_app(cls: type[Application[UUID]], **extra: str) -> Application[UUID]:
    return cls(env={**environment(), **extra})


# --- loads -------------------------------------------------------------------------


def build_aggregate(
    app: Application[UUID], events: int, *, per_save: int = 1000
) -> UUID:
    """An aggregate of ``events`` stored events, saved ``per_save`` at a time (each
    save one transaction; the app snapshots at every multiple of SNAPSHOT_EVERY)."""
    tally = EsTally()
    pending = 1
    for n in range(1, events):
        tally.add(n)
        pending += 1
        if pending >= per_save:
            app.save(tally)
            pending = 0
    if pending:
        app.save(tally)
    return tally.id


def loader(
    app: Application[UUID], aggregate_id: UUID, events: int
) -> Callable[[], Any]:
    def load() -> EsTally:
        tally = app.repository.get(aggregate_id)
        if tally.version != events or tally.count != events - 1:
            raise AssertionError(f"peer loaded version {tally.version}, not {events}")
        return tally

    return load


# --- appends -----------------------------------------------------------------------


def appends_per_second(
    app: Application[UUID], *, per_commit: int, aggregates: int, seconds: float
) -> float:
    """Events per second, ``per_commit`` events per ``app.save`` (one transaction),
    round-robin over ``aggregates`` aggregates created (untimed) beforehand."""
    tallies = [EsTally() for _ in range(aggregates)]
    app.save(*tallies)
    for tally in tallies:  # warm: one save each (plans, pool)
        tally.add(0)
        app.save(tally)
    written, i = 0, 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        tally = tallies[i % aggregates]
        for n in range(per_commit):
            tally.add(n)
        app.save(tally)
        written += per_commit
        i += 1
    return written / (time.perf_counter() - start)


# --- projection --------------------------------------------------------------------


class TallyView(PostgresTrackingRecorder):
    """A materialised view: one row per tally (total, count), written with the
    tracking record in one transaction per event, as the library's docs show."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.rows_table = self.tracking_table_name.replace("_tracking", "_rows")
        self.check_identifier_length(self.rows_table)
        table = sql.Identifier(self.datastore.schema, self.rows_table)
        self.sql_create_statements.append(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {0} (tally_id uuid PRIMARY KEY, "
                "total bigint NOT NULL, count bigint NOT NULL)"
            ).format(table)
        )
        self.created_statement = sql.SQL(
            "INSERT INTO {0} VALUES (%s, 0, 0) ON CONFLICT (tally_id) DO NOTHING"
        ).format(table)
        self.added_statement = sql.SQL(
            "INSERT INTO {0} AS t VALUES (%s, %s, 1) ON CONFLICT (tally_id) DO UPDATE "
            "SET total = t.total + excluded.total, count = t.count + 1"
        ).format(table)
        self.count_statement = sql.SQL(
            "SELECT count(*) AS rows, coalesce(sum(count), 0) AS added FROM {0}"
        ).format(table)

    def tally_created(self, tally_id: UUID, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as curs:
            self._insert_tracking(curs, tracking)
            curs.execute(self.created_statement, (tally_id,), prepare=True)

    def tally_added(self, tally_id: UUID, amount: int, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as curs:
            self._insert_tracking(curs, tracking)
            curs.execute(self.added_statement, (tally_id, amount), prepare=True)

    def counts(self) -> tuple[int, int]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.count_statement)
            row = curs.fetchone()
            return row["rows"], row["added"]


class TallyViewProjection(Projection[TallyView]):
    name = "bench_tally_view"
    topics = ()  # every event of the application

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    # EsTally.Created is made by eventsourcing's @event when EsTally is created
    @process_event.register(EsTally.Created)
    def _created(self, domain_event: EsTally.Created, tracking: Tracking) -> None:  # type: ignore[name-defined]
        self.view.tally_created(domain_event.originator_id, tracking)

    # and so is EsTally.Added
    @process_event.register(EsTally.Added)
    def _added(self, domain_event: EsTally.Added, tracking: Tracking) -> None:  # type: ignore[name-defined]
        self.view.tally_added(domain_event.originator_id, domain_event.amount, tracking)


def load_for_rebuild(aggregates: int, events_per_aggregate: int) -> int:
    """Write the events the projection is rebuilt from (untimed); returns the last
    notification id. Many aggregates per save: big transactions, as ours."""
    app = open_app(RebuildApp)
    try:
        batch = max(1, 1000 // events_per_aggregate)
        for start in range(0, aggregates, batch):
            tallies = [EsTally() for _ in range(min(batch, aggregates - start))]
            for tally in tallies:
                for n in range(1, events_per_aggregate):
                    tally.add(n)
            app.save(*tallies)
        return app.recorder.max_notification_id() or 0
    finally:
        app.close()


def rebuild(last_id: int, *, stall_seconds: float = 60.0) -> dict[str, Any]:
    """Run the projection from the start of the application sequence until it has
    tracked ``last_id``; the clock covers the runner's start (its view's tables are
    created then) to the last tracking record."""
    start = time.perf_counter()
    with ProjectionRunner(
        application_class=RebuildApp,
        projection_class=TallyViewProjection,
        view_class=TallyView,
        env=environment(),
    ) as runner:
        last_seen, last_change = -1, time.monotonic()
        while True:
            runner.run_forever(timeout=0.01)  # raises the processing thread's error
            done = runner.view.max_tracking_id(runner.app_name) or 0
            if done >= last_id:
                break
            now = time.monotonic()
            if done != last_seen:
                last_seen, last_change = done, now
            elif now - last_change > stall_seconds:
                raise RuntimeError(f"peer projection stalled at {done}/{last_id}")
        seconds = time.perf_counter() - start
        rows, added = runner.view.counts()
    return {"events": last_id, "seconds": seconds, "rows": rows, "added": added}
