"""``python -m bench.telemetry`` (``make bench-telemetry``): delivery and latency with
telemetry off, then on, one after the other on the same machine, and each figure as
a ratio on/off.

*Off* is the embedded default: no ``OTEL_*`` exporter (no SDK, no spans) and the
delivery counters in each process's memory. *On* is production's shape: every process
(this one, with the in-process dispatcher, and the Celery workers it starts) exports
its spans over OTLP/HTTP (``OTEL_TRACES_EXPORTER=otlp``) to a receiver in this process
that drops them (``bench.telemetry.sink``), and counts in prometheus-client's
multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``). Each run is ``python -m bench`` in a
subprocess (the SDK is set up once per process and cannot be taken down), with the
scenarios given by ``--only`` (default: in-process and Celery delivery, and latency).
The target (issue 12): row-writing delivery within 10% of off.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from typing import Any

from processes import BASE_DIR

from .sink import Sink

SCENARIOS = ("inprocess", "celery", "latency")
OUT = BASE_DIR / "var" / "bench"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.telemetry", description=__doc__
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument(
        "--only", action="append", choices=SCENARIOS, help="scenario (repeatable)"
    )
    parser.add_argument("--messages", type=int, help="messages per throughput run")
    args = parser.parse_args(argv)
    args.only = args.only or list(SCENARIOS)
    return args


def bench(args: argparse.Namespace, label: str, env: dict[str, str]) -> dict[str, Any]:
    """One ``python -m bench`` run with ``env``; its JSON results."""
    out = OUT / f"telemetry-{label}.json"
    command = [sys.executable, "-m", "bench", "--out", str(out)]
    command += [f"--only={scenario}" for scenario in args.only]
    if args.quick:
        command.append("--quick")
    if args.messages:
        command += ["--messages", str(args.messages)]
    print(f"-- telemetry {label}: {' '.join(command[1:])}", file=sys.stderr, flush=True)
    subprocess.run(command, env={**os.environ, **env}, cwd=BASE_DIR, check=True)
    results: dict[str, Any] = json.loads(out.read_text())
    return results


def rows(off: dict[str, Any], on: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(figure, off, on) for every figure both runs have."""
    found = []
    for kind in ("inprocess", "celery"):
        for subject, run in off.get(kind, {}).items():
            other = on.get(kind, {}).get(subject)
            if other:
                found.append(
                    (f"{kind} {subject} msgs/s", run["per_second"], other["per_second"])
                )
    if "latency" in off and "latency" in on:
        for field in ("achieved_rate", "p50_ms", "p95_ms", "p99_ms"):
            found.append(
                (f"latency {field}", off["latency"][field], on["latency"][field])
            )
    return found


def render(off: dict[str, Any], on: dict[str, Any], sink: Sink) -> str:
    lines = [
        f"{'figure':<28} {'off':>10} {'on':>10} {'on/off':>7}",
        *(
            f"{name:<28} {a:>10,.1f} {b:>10,.1f} {b / a if a else float('nan'):>7.2f}"
            for name, a, b in rows(off, on)
        ),
        f"spans exported while on: {sink.exports} OTLP posts, {sink.bytes:,} bytes",
    ]
    for label, results in (("off", off), ("on", on)):
        meta = results["meta"]
        before, after = meta["load_before"][0], meta["load_after"][0]
        lines.append(f"load average ({label} run): {before:.2f} -> {after:.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    off = bench(args, "off", {"OTEL_TRACES_EXPORTER": "none"})
    with Sink() as sink, tempfile.TemporaryDirectory(prefix="bench-metrics-") as dir_:
        on = bench(
            args,
            "on",
            {
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
                "OTEL_SERVICE_NAME": "bench",
                "PROMETHEUS_MULTIPROC_DIR": dir_,
            },
        )
        print(render(off, on, sink))
    return 0


if __name__ == "__main__":
    sys.exit(main())
