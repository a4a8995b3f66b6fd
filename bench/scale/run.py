"""``make bench-scale`` (``python -m bench.scale``): how an I/O-bound subscription
scales out with Celery workers, until its partitions bind.

The subscription (``bench.scale``) waits ``--call-ms`` (5 ms) per message outside any
transaction, as a call to another service would (an ``outside=True`` handler). For
each count of worker processes (1, 2, 4, 8, 16: one ``celery -A shop worker``
with that many prefork processes, each draining with ``--threads`` lane threads,
``EVENTS_WORKER_THREADS``), and each partition count (8, then 32), the log is emptied
and loaded with ``--messages`` per busy drain (``min(workers x threads, partitions)``
of them), every partition is woken, and the rate is taken between 10 % and 90 % of
the messages delivered (the steady part: no start-up, no tail). A drain handles one
partition's messages one at a time, so at most ``partitions`` drains run at once:
throughput rises with workers until the partitions bind.

Before, the CPU one message costs the worker and PostgreSQL (``bench/scale/cost.py``).
Then the writers' wall (``bench/scale/writers.py``: transactions per second on one
partition and on all, unless ``--no-writers``) and, unless ``--no-repartition``, a
live raise from 8 to 16 partitions under load (``bench/scale/repartition.py``). One
table, the load average beside every row; the figures also go to
``var/bench/scale.json``. Ctrl-C stops the worker process groups.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.common.cli import (
    fill_defaults,
    require_positive,
    save_json,
    step,
    stop_on_signals,
)
from bench.common.workers import Workers

SETTINGS = "bench.scale.settings"
TARGET = 8.0  # 16 workers over 1 worker, 32 partitions (issue 15)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scale")
    parser.description = __doc__.split("\n\n")[0]
    add = parser.add_argument
    add("--quick", action="store_true", help="smoke run: 1, 4 workers, fewer messages")
    add("--workers", default="1,2,4,8,16", help="worker processes (comma list)")
    add("--partitions", default="8,32", help="partition counts (comma list)")
    add("--messages", type=int, help="messages per busy drain (default 600)")
    add("--call-ms", type=float, default=5.0, help="the outside call's wait")
    add(
        "--threads",
        type=int,
        default=int(os.environ.get("EVENTS_WORKER_THREADS", "2")),
        help="drain threads per worker process and subscription (default 2)",
    )
    add("--cost-messages", type=int, help="messages of the CPU cost (default 1000)")
    add("--no-repartition", action="store_true", help="skip the live raise 8 -> 16")
    add("--no-writers", action="store_true", help="skip the writers' head-lock rows")
    add("--out", type=Path, default=Path("var/bench/scale.json"))
    args = parser.parse_args(argv)
    args.workers = [int(w) for w in ("1,4" if args.quick else args.workers).split(",")]
    args.partitions = [int(p) for p in args.partitions.split(",")]
    fill_defaults(args, (("messages", 150, 600), ("cost_messages", 200, 1000)))
    if min(args.workers + args.partitions) <= 0:
        parser.error("every count of --workers and --partitions must be positive")
    require_positive(parser, args, ("messages", "cost_messages", "threads"))
    return args


def setup(args: argparse.Namespace) -> None:
    """The environment this process and its workers share, then Django."""
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    os.environ["BENCH_SCALE_CALL_MS"] = str(args.call_ms)
    os.environ["EVENTS_WORKER_THREADS"] = str(args.threads)  # the workers inherit it
    import django

    from bench.common import db

    try:
        db.check_target()
    except db.UnsafeDatabase as error:
        raise db.UnsafeDatabase(f"{error} (this bench: SCALE_DATABASE_URL)") from None
    if db.ensure_database():
        step(f"created database {db.describe()}")
    django.setup()
    db.migrate()


@dataclass
class Row:
    partitions: int
    workers: int
    messages: int
    per_second: float  # between 10 % and 90 % delivered
    overall: float  # all messages over the whole drain
    load_before: float
    load_after: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def drains(workers: int, partitions: int) -> int:
    """How many drains of the subscription can run at once."""
    from django.conf import settings

    return min(workers * settings.EVENTS_WORKER_THREADS, partitions)


def measure(partitions: int, workers: int, messages: int) -> Row:
    from bench.app import handlers
    from bench.app.contracts import CallMade
    from bench.common import db, harness
    from events.dispatch.celery import CeleryDispatcher
    from events.models import InboxEntry

    subscription = handlers.calls
    count = messages * drains(workers, partitions)
    db.reset(partitions)
    heads = harness.preload(CallMade, count)
    db.analyze()
    harness.park_others(subscription, heads)
    load_before = os.getloadavg()[0]
    with harness.dispatcher(CeleryDispatcher()):
        marks = follow(subscription.name, heads, count, partitions, workers)
    load_after = os.getloadavg()[0]
    handled = InboxEntry.objects.filter(subscription=subscription.name).count()
    if handled != count or harness.dead_letters():
        raise RuntimeError(
            f"expected {count} handled once, got {handled} and "
            f"{harness.dead_letters()} dead letters"
        )
    (start, t10, t90, end) = marks
    return Row(
        partitions=partitions,
        workers=workers,
        messages=count,
        per_second=0.8 * count / (t90 - t10),
        overall=count / (end - start),
        load_before=load_before,
        load_after=load_after,
    )


def follow(
    name: str, heads: dict[int, int], count: int, partitions: int, workers: int
) -> tuple[float, float, float, float]:
    """Wake every partition, then poll the checkpoints (every 20 ms) until all are at
    their heads; the times of the start, 10 %, 90 % and 100 %."""
    from bench.common import harness
    from events.delivery.subscriptions import registry
    from events.dispatch.celery import CeleryDispatcher
    from events.models import Checkpoint

    start = time.perf_counter()
    harness.release(registry.get(name), heads, CeleryDispatcher())
    t10 = t90 = None
    last, last_change = -1, start
    with harness.progress(count, f"{partitions} partitions, {workers} workers") as bar:
        while True:
            positions = dict(
                Checkpoint.objects.filter(subscription=name).values_list(
                    "partition", "position"
                )
            )
            done = sum(min(positions.get(p, 0), h) for p, h in heads.items())
            now = time.perf_counter()
            bar.update(done - bar.n)
            if t10 is None and done >= 0.1 * count:
                t10 = now
            if t90 is None and done >= 0.9 * count:
                t90 = now
            if done >= count:
                assert t10 is not None and t90 is not None
                return start, t10, t90, now
            if done != last:
                last, last_change = done, now
            elif now - last_change > 60:
                raise harness.Stalled(f"{name}: no progress for 60 s at {done}/{count}")
            time.sleep(0.02)


def table(rows: list[Row], call_ms: float, threads: int) -> list[str]:
    """The table: each row's rate, its ratio to one worker on the same partitions,
    the drains that can run at once, and the bound they set on that ratio (drains
    over one worker's)."""
    single = {r.partitions: r.per_second for r in rows if r.workers == 1}
    lines = [
        f"I/O-bound subscription: {call_ms:g} ms outside call per message, one "
        f"drain per partition at a time, {threads} drain threads per worker process",
        f"{'partitions':>10} {'workers':>7} {'drains':>6} {'messages':>8} "
        f"{'msgs/s':>8} {'x 1 worker':>10} {'bound x':>7} {'overall/s':>9} "
        f"{'load 1m':>13}",
    ]
    for r in rows:
        base = single.get(r.partitions)
        ratio = f"{r.per_second / base:.2f}" if base else "-"
        at_once = drains(r.workers, r.partitions)
        bound = at_once / drains(1, r.partitions)
        lines.append(
            f"{r.partitions:>10} {r.workers:>7} {at_once:>6} {r.messages:>8} "
            f"{r.per_second:>8.0f} {ratio:>10} {bound:>7g} {r.overall:>9.0f} "
            f"{r.load_before:>6.1f}->{r.load_after:<5.1f}"
        )
    top = [r for r in rows if r.partitions == 32 and r.workers == 16]
    if top and 32 in single:
        ratio = top[0].per_second / single[32]
        verdict = "met" if ratio >= TARGET else "NOT met"
        lines.append(
            f"target: 32 partitions, 16 workers >= {TARGET:g}x 1 worker: "
            f"{ratio:.2f}x ({verdict})"
        )
    return lines


def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench.common import db, workers
    from bench.scale.cost import lines as cost_lines
    from bench.scale.cost import measure_cost
    from bench.scale.repartition import raise_under_load, raise_workers
    from bench.scale.writers import lines as writer_lines
    from bench.scale.writers import measure_writers

    meta = {
        "database": db.describe(),
        "postgres": db.server_settings(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "call_ms": args.call_ms,
        "threads": args.threads,
        "pool": "prefork: one celery worker with N processes",
        "load_start": os.getloadavg(),
    }
    step("the CPU cost of one message")
    cost = measure_cost(args.cost_messages, args.call_ms)
    rows: list[Row] = []
    log_dir = Path("var/bench/scale")
    for count in args.workers:
        step(f"{count} worker processes")
        with Workers(
            count=1, concurrency=count, log_dir=log_dir, settings_module=SETTINGS
        ):
            for partitions in args.partitions:
                rows.append(measure(partitions, count, args.messages))
                step(
                    f"{partitions} partitions, {count} workers: "
                    f"{rows[-1].per_second:.0f} msgs/s"
                )
        workers.purge()
    lines = table(rows, args.call_ms, args.threads)
    lines += cost_lines(cost, os.cpu_count() or 1)
    result: dict[str, Any] = {
        "meta": meta,
        "rows": [r.as_dict() for r in rows],
        "cost": cost.as_dict(),
    }
    if not args.no_writers:
        step("writers on one partition, then on all")
        written = measure_writers()
        result["writers"] = [r.as_dict() for r in written]
        lines += ["", *writer_lines(written)]
    if not args.no_repartition:
        step("a live raise from 8 to 16 partitions under load")
        # The payments queue too: every subscription must pass the old layout. More
        # processes than the 16 partitions: a drain holds its process while its
        # partition has work, and the other subscriptions must get processes too.
        queues = ("celery", "payments")
        processes = raise_workers()
        with Workers(
            count=1,
            concurrency=processes,
            log_dir=log_dir,
            queues=queues,
            settings_module=SETTINGS,
        ):
            report = raise_under_load(quick=args.quick)
        result["repartition"] = report.as_dict()
        lines += ["", *report.lines()]
    meta["load_end"] = os.getloadavg()
    lines.append(
        f"machine: {os.cpu_count()} cores, shared with other work; load average "
        f"{meta['load_start'][0]:.1f} at the start, {meta['load_end'][0]:.1f} at "
        "the end"
    )
    result["lines"] = lines
    return result


def main(argv: list[str] | None = None) -> int:
    from bench.common.cluster import database_server

    args = parse(argv)
    stop_on_signals()
    with database_server("SCALE_DATABASE_URL", "shop_bench_scale"):
        setup(args)
        result = run(args)
    print("\n".join(result["lines"]))
    save_json(result, args.out)
    step(f"figures in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
