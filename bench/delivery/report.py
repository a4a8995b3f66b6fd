"""The printed tables and ``var/bench/results.json``: every figure next to its
baselines (as a ratio) and its target."""

from __future__ import annotations

import statistics
from typing import Any

from bench.common.report import load_average
from bench.eventstore import report as eventstore_report

TARGET_ROWS_PER_SECOND = 10_000.0
TARGET_P99_MS = 50.0

BASELINES = (
    ("psycopg_single", "psycopg, 1 INSERT per commit"),
    ("orm_single", "ORM create, 1 per commit"),
    ("psycopg_multirow", "psycopg, 500-row INSERT per commit"),
    ("orm_bulk_create", "ORM bulk_create, 500 per commit"),
)
SUBJECTS = (
    ("noop", "no-op handler"),
    ("rows", "row-writing, batch bulk_create"),
    ("rows_single", "row-writing, ORM create per msg"),
)
RATIO_COLUMNS = (
    ("psycopg_single", "/pg-1"),
    ("orm_single", "/orm-1"),
    ("psycopg_multirow", "/pg-500"),
    ("orm_bulk_create", "/orm-500"),
)


def _ratio(value: float, base: float | None) -> float | None:
    return value / base if base else None


def _fmt_ratio(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def rate_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per rate figure, with its ratios to every baseline and its target."""
    base = results.get("baselines", {})
    rows: list[dict[str, Any]] = []

    def add(key: str, label: str, value: float, target: float | None = None) -> None:
        rows.append(
            {
                "key": key,
                "label": label,
                "per_second": value,
                "ratios": {b: _ratio(value, base.get(b)) for b, _ in RATIO_COLUMNS},
                "target": target,
                "met": None if target is None else value >= target,
            }
        )

    for key, label in BASELINES:
        if key in base:
            add(f"baseline.{key}", f"baseline: {label}", base[key])
    loads = [
        run["load_per_second"]
        for kind in ("inprocess", "celery")
        for run in results.get(kind, {}).values()
    ]
    if loads:
        add(
            "outbox.publish",
            "outbox publish, 500 msgs/commit (median)",
            statistics.median(loads),
        )
    for kind, name in (("inprocess", "in-process"), ("celery", "celery")):
        for subject, label in SUBJECTS:
            run = results.get(kind, {}).get(subject)
            if run is None:
                continue
            target = TARGET_ROWS_PER_SECOND if subject == "rows" else None
            add(f"{kind}.{subject}", f"{name}: {label}", run["per_second"], target)
    return rows


def latency_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Latency percentiles, each also as a multiple of one single-row commit's time
    (the baselines' 1 / rows per second)."""
    latency = results.get("latency")
    if not latency:
        return []
    base = results.get("baselines", {})
    commit_ms = {
        name: 1000 / base[name]
        for name in ("psycopg_single", "orm_single")
        if name in base
    }
    rows = []
    for name in ("p50", "p95", "p99", "max"):
        value = latency[f"{name}_ms"]
        target = TARGET_P99_MS if name == "p99" else None
        rows.append(
            {
                "key": f"latency.{name}",
                "label": f"celery commit->handler {name}",
                "ms": value,
                "ratios": {n: _ratio(value, ms) for n, ms in commit_ms.items()},
                "target_ms": target,
                "met": None if target is None else value < target,
            }
        )
    return rows


def _target(row: dict[str, Any], text: str) -> str:
    if row["met"] is None:
        return ""
    return f"{text} {'met' if row['met'] else 'MISSED'}"


def render(results: dict[str, Any]) -> str:
    lines = []
    meta = results["meta"]
    lines.append(
        f"bench on {meta['database']} (PostgreSQL {meta['postgres']['server_version']},"
        f" synchronous_commit={meta['postgres']['synchronous_commit']}),"
        f" {meta['cpus']} CPUs, {meta['partitions']} partitions,"
        f" batch {meta['batch_size']}, {meta['messages']} msgs per run"
    )
    lines.append(
        f"in-process: {meta['inprocess_threads']} threads per subscription;"
        f" celery: {meta['workers']} worker(s) x prefork concurrency"
        f" {meta['concurrency']}"
    )
    if meta.get("load_before"):
        lines.append(
            load_average(meta, after_note=" (after includes the bench's own processes)")
        )
    lines.append("")
    header = f"{'figure':<48}{'per s':>10}" + "".join(
        f"{title:>9}" for _, title in RATIO_COLUMNS
    )
    lines.append(header + "  target")
    lines.append("-" * (len(header) + 22))
    for row in rate_rows(results):
        ratios = "".join(
            f"{_fmt_ratio(row['ratios'][key]):>9}" for key, _ in RATIO_COLUMNS
        )
        target = _target(row, f">= {row['target']:,.0f}/s") if row["target"] else ""
        lines.append(
            f"{row['label']:<48}{row['per_second']:>10,.0f}{ratios}  {target}".rstrip()
        )
    lines.append(
        "ratios: figure / baseline rows per second (pg = psycopg, orm = Django ORM;"
        " -1 = one row per commit, -500 = 500 rows per commit)"
    )
    latency = latency_rows(results)
    if latency:
        info = results["latency"]
        lines.append("")
        lines.append(
            f"latency, celery, {info['messages']} msgs at {info['achieved_rate']:.0f}"
            f"/s (asked {info['rate']:.0f}/s) over {info['seconds']:.1f}s,"
            " one message per transaction; mean"
            f" {info['mean_ms']:.1f} ms; publish p50 {info['publish_ms_p50']:.2f} ms"
        )
        lines.append(
            f"drain tasks done by catch-up: {info['tasks']}"
            f" (p50 {info['task_ms_p50']:.1f} ms, p99 {info['task_ms_p99']:.1f} ms);"
            " broker queue max"
            f" {info['queue_max']}, queued at catch-up {info['queue_at_catch_up']}"
        )
        header = f"{'figure':<48}{'ms':>10}{'x pg-1':>9}{'x orm-1':>9}"
        lines.append(header + "  target")
        lines.append("-" * (len(header) + 22))
        for row in latency:
            ratios = "".join(
                f"{_fmt_ratio(row['ratios'].get(n)):>9}"
                for n in ("psycopg_single", "orm_single")
            )
            target = (
                _target(row, f"< {row['target_ms']:.0f} ms") if row["target_ms"] else ""
            )
            lines.append(
                f"{row['label']:<48}{row['ms']:>10.1f}{ratios}  {target}".rstrip()
            )
        lines.append(
            "x pg-1 / x orm-1: latency as a multiple of one single-row commit"
            " (1 / the baseline's rows per second)"
        )
    if "eventstore" in results:
        lines += eventstore_report.render(
            results["eventstore"], results.get("baselines", {})
        )
    lines.append("")
    lines.append(f"total {meta['elapsed_seconds']:.0f}s")
    return "\n".join(lines)


def payload(results: dict[str, Any]) -> dict[str, Any]:
    """The results with the figures and targets the table shows."""
    return {
        **results,
        "rates": rate_rows(results),
        "latency_figures": latency_rows(results),
        "targets": {
            "row_writing_msgs_per_second": TARGET_ROWS_PER_SECOND,
            "celery_p99_ms_at_200_per_second": TARGET_P99_MS,
        },
    }
