"""The event store, ours next to the eventsourcing library's
(``bench.eventstore.peer``), on the same PostgreSQL server (the peer in a database of
its own, recreated every run).

* loads: one aggregate of 10, 1,000, 10,000 and 100,000 events, loaded with and
  without snapshots (taken every SNAPSHOT_EVERY events on both sides); the median of
  several loads after one warm-up. Ours without snapshots is also given as a ratio to
  a raw psycopg SELECT of the same rows and columns (what the load reads).
* appends: events per second written by ``repository.save`` in ``transaction.atomic``
  (ours) and ``Application.save`` (peer), 1 and 10 events per commit, round-robin over
  AGGREGATES aggregates held in memory (no reload between commits, no snapshots).
  Ours is also given as a ratio to the ORM's one-row-per-commit baseline.
* rebuild: ``events.rebuild.rebuild`` of a projection (one row per aggregate) from
  offset 0 over REBUILD_AGGREGATES x REBUILD_EVENTS_EACH events, against the peer's
  ``ProjectionRunner`` over the same number of events (its view writes its row and a
  tracking record in one transaction per event).

Histories are written untimed: the peer's through its own API (``Application.save``);
ours through ``repository.save`` (100 events at a time, many saves per transaction)
for the rebuild and for the first 1,000 events of a loaded aggregate, the rest of a
longer history copied from its last event by the server (``copy_events``).
No dispatcher is woken while this runs (the wake-up is a post-commit callback; the
delivery scenarios measure it).
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from typing import Any, cast
from uuid import UUID, uuid4

from django.db import connection, transaction
from django.utils import timezone

from bench.app.models import TallyView
from bench.app.tally import (
    SNAPSHOT_EVERY,
    Tally,
    TallyState,
    TallyViewProjection,
    UnsnappedTally,
)
from bench.common import db, harness
from bench.eventstore import peer
from events.log import writer
from events.log.reader import ENVELOPE_FIELDS
from events.models import LogEntry, Snapshot
from events.store import repository
from events.store.rebuild import rebuild as rebuild_projection

SIZES = (10, 1_000, 10_000, 100_000)
QUICK_SIZES = (10, 1_000, 10_000)
AGGREGATES = 100  # appends round-robin over this many aggregates
SAVES_PER_TRANSACTION = 50  # while building histories (x 100 events)
SNAPSHOT_RUNS = 15  # loads with a snapshot take milliseconds: more runs, less noise
STORE_PREFIX = 1_000  # events of a history written through the store (rest: copies)
REBUILD_AGGREGATES, REBUILD_EVENTS_EACH = 1_000, 50
QUICK_REBUILD_AGGREGATES = 100

TARGET_SNAPSHOT_FLAT = 1.5  # slowest / fastest snapshot load over sizes >= 1,000
TARGET_RAW_RATIO = 1.5  # load of 10,000 events without snapshot / raw SELECT
TARGET_REBUILD_PER_SECOND = 20_000.0
TARGET_APPEND_RATIO = 2.0  # ours / peer

TABLES = (
    "events_log",
    "events_partition_head",
    "events_checkpoint",
    "events_inbox",
    "events_dead_letter",
    "events_snapshot",
    "bench_tally_view",
)
RAW_SQL = (
    "SELECT "
    + ", ".join(f'"{name}"' for name in ENVELOPE_FIELDS)
    + " FROM events_log WHERE stream = %s AND stream_version > %s"
    " ORDER BY stream_version"
)

# What a fold needs (type, schema version, payload): the same rows, fewer columns,
# printed for comparison (decoding uuids, timestamps and headers is most of RAW_SQL).
NARROW_SQL = (
    "SELECT type, version, payload FROM events_log"
    " WHERE stream = %s AND stream_version > %s ORDER BY stream_version"
)

Step = Callable[[str], None]


def reset() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")


def analyze() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {', '.join(TABLES)}")
    with psycopg_peer() as conn:
        conn.execute("ANALYZE")


def psycopg_peer() -> Any:
    import psycopg

    env = peer.environment()
    return psycopg.connect(
        dbname=env["POSTGRES_DBNAME"],
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"] or None,
        autocommit=True,
    )


def timed(fn: Callable[[], object], reps: int, *, warm: bool = True) -> dict[str, Any]:
    """Median (and min, max) of ``reps`` calls in ms, after one warm-up call (left
    out for the 100,000-event loads: seconds each, and the build has just read and
    cached the rows and plans)."""
    if warm:
        fn()
    times = []
    for _ in range(reps):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return {
        "ms": statistics.median(times),
        "min_ms": min(times),
        "max_ms": max(times),
        "runs": reps,
    }


# --- loads -------------------------------------------------------------------------


def build_ours(events: int) -> UUID:
    """A Tally of ``events`` events of amount 1. The first STORE_PREFIX go through
    the store: ``repository.save`` of SNAPSHOT_EVERY events at a time (a snapshot
    falls due at every multiple), SAVES_PER_TRANSACTION saves per transaction. The
    rest are copies of the last of them, made by the server (``copy_events``)."""
    tally = Tally(uuid4())
    prefix = min(events, STORE_PREFIX)
    done = 0
    while done < prefix:
        with transaction.atomic():
            for _ in range(SAVES_PER_TRANSACTION):
                if done >= prefix:
                    break
                count = min(SNAPSHOT_EVERY, prefix - done)
                for _ in range(count):
                    tally.add(1)
                repository.save(tally)
                done += count
    if events > prefix:
        copy_events(tally, events - prefix)
    return tally.id


def copy_events(tally: Tally, count: int) -> None:
    """Append ``count`` copies of the stream's last event, as the store would have
    written them, in one INSERT .. SELECT: every column copied from that row (so a
    column added to the log is copied too) but a new message id, the next offsets of
    its partition (taken from the partition's counter, as the store takes them) and
    the next stream versions; plus the snapshots the store would have taken (amounts
    are all 1, so the state at version v is total v, count v, last 1). The rows
    are what loading reads, the same as through the store; only their writing is
    faster (100,000 events through ``repository.save`` take 20-40 s here)."""
    quote = connection.ops.quote_name
    computed = {
        "offset": "%(first)s + g.i - 1",
        "stream_version": "%(version)s + g.i",
        "message_id": "gen_random_uuid()",
    }
    columns = [  # a concrete field has a column
        cast(str, f.column) for f in LogEntry._meta.concrete_fields if not f.primary_key
    ]
    select = ", ".join(computed.get(c, f"t.{quote(c)}") for c in columns)
    statement = (
        f"INSERT INTO {quote(LogEntry._meta.db_table)}"
        f" ({', '.join(quote(c) for c in columns)}) SELECT {select}"
        f" FROM {quote(LogEntry._meta.db_table)} t,"
        " generate_series(1, %(count)s) AS g(i)"
        " WHERE t.stream = %(stream)s AND t.stream_version = %(version)s"
    )
    version = tally.version
    with transaction.atomic():
        template = LogEntry.objects.get(stream=tally.stream, stream_version=version)
        first = writer.reserve_offsets(template.partition, count)
        with connection.cursor() as cursor:
            params = {"first": first, "version": version, "count": count}
            cursor.execute(statement, {**params, "stream": tally.stream})
            if cursor.rowcount != count:
                raise AssertionError(f"copied {cursor.rowcount} events, not {count}")
        now = timezone.now()
        Snapshot.objects.bulk_create(
            Snapshot(
                stream=tally.stream,
                version=v,
                aggregate=type(tally).__name__,
                schema=tally.snapshot_version,
                state=TallyState(total=v, count=v, last=1).model_dump(mode="json"),
                taken_at=now,
            )
            for v in range(version + 1, version + count + 1)
            if v % SNAPSHOT_EVERY == 0
        )
    tally.version += count


def our_loader(aggregate_id: UUID, events: int, *, snapshots: bool) -> Callable:
    def load() -> Tally:
        tally = repository.load(Tally, aggregate_id, use_snapshots=snapshots)
        if tally.version != events or tally.state.count != events:
            raise AssertionError(f"loaded version {tally.version}, not {events}")
        return tally

    return load


def raw_loader(
    conn: Any, aggregate_id: UUID, events: int, query: str = RAW_SQL
) -> Callable:
    stream = Tally.stream_for(aggregate_id)

    def load() -> list[tuple[Any, ...]]:
        rows = conn.execute(query, (stream, 0), prepare=True).fetchall()
        if len(rows) != events:
            raise AssertionError(f"raw SELECT read {len(rows)} rows, not {events}")
        return rows

    return load


def loads(sizes: tuple[int, ...], *, quick: bool, step: Step) -> dict[str, Any]:
    step(f"event store: building aggregates of {', '.join(map(str, sizes))} events")
    started = time.perf_counter()
    ours = {size: build_ours(size) for size in sizes}
    built_ours = time.perf_counter() - started
    app = peer.open_app(peer.LoadsApp)
    plain = peer.open_app(peer.LoadsApp, IS_SNAPSHOTTING_ENABLED="n")
    try:
        started = time.perf_counter()
        theirs = {size: peer.build_aggregate(app, size) for size in sizes}
        built_peer = time.perf_counter() - started
        analyze()
        results: dict[str, Any] = {
            "build_seconds": {"ours": built_ours, "peer": built_peer},
            "sizes": {},
        }
        with db.connect() as conn:
            for size in sizes:
                big = size >= 100_000
                reps = 3 if big else (5 if quick or size >= 10_000 else 7)
                step(f"event store: loading {size:,} events ({reps} runs each)")
                row = {
                    "raw_select": timed(
                        raw_loader(conn, ours[size], size), reps, warm=not big
                    ),
                    "raw_select_narrow": timed(
                        raw_loader(conn, ours[size], size, NARROW_SQL),
                        reps,
                        warm=not big,
                    ),
                    "ours_snapshot": timed(
                        our_loader(ours[size], size, snapshots=True), SNAPSHOT_RUNS
                    ),
                    "ours_no_snapshot": timed(
                        our_loader(ours[size], size, snapshots=False),
                        reps,
                        warm=not big,
                    ),
                    "peer_snapshot": timed(
                        peer.loader(app, theirs[size], size), SNAPSHOT_RUNS
                    ),
                    "peer_no_snapshot": timed(
                        peer.loader(plain, theirs[size], size), reps, warm=not big
                    ),
                }
                row["no_snapshot_over_raw"] = (
                    row["ours_no_snapshot"]["ms"] / row["raw_select"]["ms"]
                )
                row["no_snapshot_over_narrow"] = (
                    row["ours_no_snapshot"]["ms"] / row["raw_select_narrow"]["ms"]
                )
                row["snapshot_ours_over_peer"] = (
                    row["ours_snapshot"]["ms"] / row["peer_snapshot"]["ms"]
                )
                row["no_snapshot_ours_over_peer"] = (
                    row["ours_no_snapshot"]["ms"] / row["peer_no_snapshot"]["ms"]
                )
                results["sizes"][str(size)] = row
    finally:
        app.close()
        plain.close()
    return results


# --- appends -----------------------------------------------------------------------


def our_appends(*, per_commit: int, seconds: float) -> float:
    """Events per second, ``per_commit`` events per ``repository.save`` in its own
    ``transaction.atomic()``, round-robin over AGGREGATES aggregates (created and
    warmed untimed)."""
    tallies = [UnsnappedTally(uuid4()) for _ in range(AGGREGATES)]
    for tally in tallies:
        for _ in range(2):
            tally.add(0)
            with transaction.atomic():
                repository.save(tally)
    written, i = 0, 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        tally = tallies[i % AGGREGATES]
        for n in range(per_commit):
            tally.add(n)
        with transaction.atomic():
            repository.save(tally)
        written += per_commit
        i += 1
    return written / (time.perf_counter() - start)


def appends(*, seconds: float, step: Step) -> dict[str, Any]:
    results: dict[str, Any] = {"seconds": seconds, "aggregates": AGGREGATES}
    app = peer.open_app(peer.AppendsApp)
    try:
        for per_commit in (1, 10):
            step(f"event store: appends, {per_commit} event(s) per commit")
            ours = our_appends(per_commit=per_commit, seconds=seconds)
            theirs = peer.appends_per_second(
                app, per_commit=per_commit, aggregates=AGGREGATES, seconds=seconds
            )
            results[str(per_commit)] = {
                "ours_per_second": ours,
                "peer_per_second": theirs,
                "ours_over_peer": ours / theirs,
            }
    finally:
        app.close()
    return results


# --- rebuild -----------------------------------------------------------------------


def load_ours_for_rebuild(count: int, each: int) -> None:
    per_transaction = max(1, 1000 // each)
    for start in range(0, count, per_transaction):
        with transaction.atomic():
            for _ in range(min(per_transaction, count - start)):
                tally = UnsnappedTally(uuid4())
                for n in range(1, each + 1):
                    tally.add(n)
                repository.save(tally)


def rebuilds(count: int, each: int, *, step: Step) -> dict[str, Any]:
    events = count * each
    step(f"event store: loading {events:,} events for the rebuilds")
    load_ours_for_rebuild(count, each)
    last_id = peer.load_for_rebuild(count, each)
    analyze()
    step(f"event store: rebuilding our projection ({events:,} events)")
    report = rebuild_projection(TallyViewProjection)
    rows = TallyView.objects.count()
    added = sum(TallyView.objects.values_list("count", flat=True))
    if report.events != events or rows != count or added != events:
        raise AssertionError(
            f"rebuild folded {report.events} events into {rows} rows ({added} added);"
            f" expected {events} into {count}"
        )
    step(f"event store: peer projection runner ({last_id:,} events)")
    theirs = peer.rebuild(last_id)
    if theirs["rows"] != count or int(theirs["added"]) != events - count:
        raise AssertionError(f"peer projection wrote {theirs}; expected {count} rows")
    ours_rate = report.events / report.seconds
    peer_rate = theirs["events"] / theirs["seconds"]
    return {
        "aggregates": count,
        "events": events,
        "ours": {
            "events": report.events,
            "seconds": report.seconds,
            "per_second": ours_rate,
            "checksum": report.checksum,
        },
        "peer": {
            "events": theirs["events"],
            "seconds": theirs["seconds"],
            "per_second": peer_rate,
        },
        "ours_over_peer": ours_rate / peer_rate,
    }


# --- the scenario ------------------------------------------------------------------


def targets(results: dict[str, Any], baselines: dict[str, float]) -> dict[str, Any]:
    sizes = results["loads"]["sizes"]
    snapped = {
        int(size): row["ours_snapshot"]["ms"]
        for size, row in sizes.items()
        if int(size) >= 1_000
    }
    flat = max(snapped.values()) / min(snapped.values()) if snapped else None
    worst_vs_peer = max(row["snapshot_ours_over_peer"] for row in sizes.values())
    raw = sizes.get("10000", {}).get("no_snapshot_over_raw")
    rebuild_rate = results["rebuild"]["ours"]["per_second"]
    append_ratios = {
        per: results["appends"][per]["ours_over_peer"] for per in ("1", "10")
    }
    orm = baselines.get("orm_single")
    for per in ("1", "10"):
        row = results["appends"][per]
        row["ours_over_orm_single"] = row["ours_per_second"] / orm if orm else None
    return {
        "snapshot_load_flat": {
            "value": flat,
            "target": f"slowest/fastest over >= 1,000 events <= {TARGET_SNAPSHOT_FLAT}",
            "met": None if flat is None else flat <= TARGET_SNAPSHOT_FLAT,
        },
        "snapshot_load_vs_peer": {
            "value": worst_vs_peer,
            "target": "ours/peer <= 1 at every size",
            "met": worst_vs_peer <= 1.0,
        },
        "no_snapshot_10000_vs_raw": {
            "value": raw,
            "target": f"<= {TARGET_RAW_RATIO}x the raw SELECT",
            "met": None if raw is None else raw <= TARGET_RAW_RATIO,
        },
        "rebuild_per_second": {
            "value": rebuild_rate,
            "target": f">= {TARGET_REBUILD_PER_SECOND:,.0f} events/s",
            "met": rebuild_rate >= TARGET_REBUILD_PER_SECOND,
        },
        **{
            f"appends_{per}_vs_peer": {
                "value": ratio,
                "target": f">= {TARGET_APPEND_RATIO}x the peer",
                "met": ratio >= TARGET_APPEND_RATIO,
            }
            for per, ratio in append_ratios.items()
        },
    }


def run(*, quick: bool, baselines: dict[str, float], step: Step) -> dict[str, Any]:
    from importlib.metadata import version

    started = time.perf_counter()
    sizes = QUICK_SIZES if quick else SIZES
    count = QUICK_REBUILD_AGGREGATES if quick else REBUILD_AGGREGATES
    results: dict[str, Any] = {
        "peer": f"eventsourcing {version('eventsourcing')} (eventsourcing.postgres)",
        "peer_database": peer.dbname(),
        "snapshot_every": SNAPSHOT_EVERY,
    }
    step(f"event store: recreating the peer's database {peer.dbname()}")
    peer.recreate_database()
    with harness.dispatcher(harness.NullDispatcher()):
        try:
            parts = {
                "appends": lambda: appends(seconds=1.0 if quick else 3.0, step=step),
                "loads": lambda: loads(sizes, quick=quick, step=step),
                "rebuild": lambda: rebuilds(count, REBUILD_EVENTS_EACH, step=step),
            }
            results["part_seconds"] = {}
            for name, part in parts.items():
                reset()
                begun = time.perf_counter()
                results[name] = part()
                results["part_seconds"][name] = time.perf_counter() - begun
        finally:
            reset()
    results["targets"] = targets(results, baselines)
    results["elapsed_seconds"] = time.perf_counter() - started
    return results
