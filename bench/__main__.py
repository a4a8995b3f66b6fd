"""``python -m bench``: every scenario, one run, one table (and var/bench/results.json).

Scenarios: ``baselines`` (always run: every figure is printed as a ratio to them),
``inprocess`` and ``celery`` (delivery throughput to a no-op and a row-writing
subscription), ``latency`` (commit-to-handler with Celery at a steady rate),
``eventstore`` (aggregate loads, appends and a projection rebuild, next to the
eventsourcing library on the same server).
``--quick`` runs smaller sizes, for a smoke test. Ctrl-C stops the dispatcher threads
and the worker subprocesses before exiting.
The REST API has an entry of its own, with its own database and Redis DB:
``python -m bench.api`` (``make bench-api``).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import cli

SCENARIOS = ("baselines", "inprocess", "celery", "latency", "eventstore")
SUBJECTS = ("noop", "rows", "rows_single")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument(
        "--only",
        action="append",
        choices=SCENARIOS,
        help="run only this scenario (repeatable); baselines always run",
    )
    parser.add_argument("--messages", type=int, help="messages per throughput run")
    parser.add_argument(
        "--single-messages",
        type=int,
        help="messages for the per-message ORM create variant (slower)",
    )
    parser.add_argument("--workers", type=int, default=1, help="celery workers")
    parser.add_argument("--concurrency", type=int, default=2, help="prefork size")
    parser.add_argument("--rate", type=float, default=200.0, help="latency msgs/s")
    parser.add_argument("--seconds", type=float, help="latency measuring time")
    parser.add_argument(
        "--out", type=Path, help="JSON results (default var/bench/results.json)"
    )
    args = parser.parse_args(argv)
    args.only = set(args.only or SCENARIOS) | {"baselines"}
    cli.fill_defaults(args, (("messages", 5_000, 50_000), ("seconds", 4.0, 15.0)))
    cli.fill_defaults(args, (("single_messages", args.messages, 20_000),))
    cli.require_positive(
        parser, args, ("messages", "single_messages", "seconds", "rate")
    )
    return args


def setup() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django

    from bench.common import db

    db.check_target()  # settings only: before anything touches the database
    if db.ensure_database():
        print(f"created database {db.describe()}", file=sys.stderr)
    django.setup()
    db.migrate()
    # On only when OTEL_TRACES_EXPORTER asks (python -m bench.telemetry's "on" run):
    # the in-process dispatcher's deliveries then export spans as production's do.
    from shop.telemetry import start_tracing

    start_tracing()


def run(args: argparse.Namespace) -> dict[str, Any]:
    from django.conf import settings

    from bench.common import db
    from bench.common.workers import Workers
    from bench.delivery import baselines, latency, throughput

    started = time.perf_counter()
    results: dict[str, Any] = {
        "meta": {
            "database": db.describe(),
            "postgres": db.server_settings(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "partitions": settings.EVENTS_PARTITIONS,
            "batch_size": throughput.SUBJECTS["rows"][0].batch_size,
            "messages": args.messages,
            "single_messages": args.single_messages,
            "inprocess_threads": settings.EVENTS_INPROCESS_THREADS,
            "workers": args.workers,
            "concurrency": args.concurrency,
            "quick": args.quick,
            "scenarios": sorted(args.only),
            "load_before": os.getloadavg(),
        }
    }

    def count(subject: str) -> int:
        return args.single_messages if subject == "rows_single" else args.messages

    step("baselines: INSERTs without the platform")
    results["baselines"] = baselines.run(quick=args.quick)
    if "inprocess" in args.only:
        results["inprocess"] = {}
        for subject in SUBJECTS:
            step(f"in-process dispatcher: {subject}")
            run_ = throughput.measure("inprocess", subject, count(subject))
            results["inprocess"][subject] = run_.as_dict()
    if {"celery", "latency"} & args.only:
        step(f"starting {args.workers} celery worker(s)")
        log_dir = Path(settings.BASE_DIR) / "var" / "bench"
        with Workers(
            count=args.workers, concurrency=args.concurrency, log_dir=log_dir
        ) as workers:
            step("celery: warm-up")
            throughput.measure("celery", "noop", 2_000)
            if "celery" in args.only:
                results["celery"] = {}
                for subject in SUBJECTS:
                    step(f"celery dispatcher: {subject}")
                    workers.check()
                    run_ = throughput.measure("celery", subject, count(subject))
                    results["celery"][subject] = run_.as_dict()
            if "latency" in args.only:
                step(f"celery latency at {args.rate:.0f} msgs/s")
                workers.check()
                measured = latency.measure(
                    rate=args.rate,
                    seconds=args.seconds,
                    warmup=1.0 if args.quick else 2.0,
                    pool=workers,
                )
                results["latency"] = measured.as_dict()
            step("stopping celery workers")
    if "eventstore" in args.only:
        # Imported here: it needs bench/requirements.txt (the peer) and declares the
        # bench projection, which the other scenarios have no use for.
        from bench.eventstore import run as eventstore

        results["eventstore"] = eventstore.run(
            quick=args.quick, baselines=results["baselines"], step=step
        )
    results["meta"]["elapsed_seconds"] = time.perf_counter() - started
    results["meta"]["load_after"] = os.getloadavg()
    results["meta"]["load_by_step"] = LOAD_BY_STEP
    return results


LOAD_BY_STEP: list[tuple[str, float]] = []


def step(text: str) -> None:
    """Progress on stderr; the load average at each step goes to the JSON."""
    LOAD_BY_STEP.append((text, os.getloadavg()[0]))
    cli.step(text)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    cli.stop_on_signals()
    try:
        setup()
        results = run(args)
    except KeyboardInterrupt:
        print("interrupted; workers and threads stopped", file=sys.stderr)
        return 130
    from bench.common.report import publish
    from bench.delivery import report

    text, payload = report.render(results), report.payload(results)
    publish(text, payload, out=args.out, name="results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
