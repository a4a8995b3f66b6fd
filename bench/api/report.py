"""The API bench's printed table and its pass/fail: rates and latency percentiles of
placing an order beside the minimal authenticated write's and the health check's, the
p50 ratios (to the write against the target; to the health check beside it), and
every answer that was not the expected one."""

from __future__ import annotations

from typing import Any

from bench.api.load import Phase
from bench.common.report import load_average, percentile

ROWS = (
    ("health", "GET /health/live, before"),
    ("write", "POST /api/bench/write, before"),
    ("orders", "POST /api/v1/orders, 202 accepted"),
    ("write_after", "POST /api/bench/write, after"),
    ("health_after", "GET /health/live, after"),
)
BASES = (
    ("write", "POST /api/bench/write, both (the floor)"),
    ("health", "GET /health/live, both"),
)


def combine(*phases: Phase) -> dict[str, Any]:
    """The health base: both health phases' answers as one sample."""
    latencies = sorted(t for phase in phases for t in phase.latencies)
    seconds = sum(phase.seconds for phase in phases)
    figures: dict[str, Any] = {
        "accepted": sum(phase.accepted for phase in phases),
        "seconds": seconds,
        "unexpected": sum(phase.unexpected for phase in phases),
    }
    figures["per_second"] = figures["accepted"] / seconds if seconds else 0.0
    if latencies:
        for name, p in (("p50", 50), ("p95", 95), ("p99", 99)):
            figures[f"{name}_ms"] = percentile(latencies, p) * 1000
        figures["max_ms"] = latencies[-1] * 1000
    return figures


def ratio(results: dict[str, Any], base: str = "write") -> float | None:
    """Place-order p50 over the p50 of a base (``write`` or ``health``, both of its
    phases together)."""
    orders, figures = results["phases"]["orders"], results[base]
    if "p50_ms" not in orders or not figures.get("p50_ms"):
        return None
    return float(orders["p50_ms"] / figures["p50_ms"])


def honest(results: dict[str, Any]) -> bool:
    """Figures stand only if every answer was the expected one, the log holds
    exactly one OrderPlaced per 202 and ``bench_row`` one row per minimal write."""
    check = results["check"]
    return (
        all(phase["unexpected"] == 0 for phase in results["phases"].values())
        and check["answered_202"] == check["orders_placed_in_log"]
        and check["answered_202"] > 0
        and check["answered_201"] == check["rows_written"]
        and check["answered_201"] > 0
    )


def _row(label: str, figures: dict[str, Any]) -> str:
    cells = "".join(
        f"{figures[key]:>9.2f}" if key in figures else f"{'-':>9}"
        for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms")
    )
    return f"{label:<40}{figures['per_second']:>9,.0f}{cells}{figures['unexpected']:>8}"


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    pg = meta["postgres"]
    lines = [
        f"API bench: {meta['server']} ({meta['settings']})",
        f"on {meta['database']} (PostgreSQL {pg['server_version']},"
        f" synchronous_commit={pg['synchronous_commit']}), Redis {meta['redis']},"
        f" {meta['cpus']} CPUs, Python {meta['python']}",
        f"ran: {meta['ran']}",
        f"load: {meta['users']} virtual users, closed loop, one keep-alive connection"
        f" each; {meta['seconds']:g}s measured per phase after {meta['warmup']:g}s of"
        f" warm-up; the load generator (this process) used"
        f" {meta['client_cpu_share']:.0%} of one CPU on the same machine",
        f"seeded: {meta['products']} products, {meta['users']} customers and tokens"
        f" ({meta['seed_messages']} messages delivered before the run)",
        load_average(meta),
        "",
    ]
    header = f"{'figure':<40}{'per s':>9}" + "".join(
        f"{name:>9}" for name in ("p50 ms", "p95 ms", "p99 ms", "max ms")
    )
    lines += [header + f"{'other':>8}", "-" * (len(header) + 8)]
    for key, label in ROWS:
        lines.append(_row(label, results["phases"][key]))
    for key, label in BASES:
        lines.append(_row(label, results[key]))
    lines.append(
        "other: answers with another status, or transport errors (none expected)"
    )
    lines.append(
        "phase load average (1 min) at each start: "
        + ", ".join(
            f"{key} {results['phases'][key]['load_before'][0]:.2f}"
            for key, _ in ROWS
            if "load_before" in results["phases"][key]
        )
    )
    lines.append("")
    target = results["target_ratio_p50"]
    value = ratio(results, "write")
    if value is None:
        lines.append("place-order p50 / minimal-write p50: - (no accepted order)")
    else:
        verdict = "met" if value <= target else "MISSED"
        lines.append(
            f"place-order p50 / minimal-write p50: {value:.2f}x  (target <="
            f" {target:g}x: {verdict})"
        )
    value = ratio(results, "health")
    lines.append(
        "place-order p50 / health p50: "
        + ("-" if value is None else f"{value:.2f}x")
        + "  (no I/O in the health check: for scale, no target)"
    )
    check = results["check"]
    agree = check["answered_202"] == check["orders_placed_in_log"]
    lines.append(
        f"check: {check['answered_202']} answers 202 (warm-up included),"
        f" {check['orders_placed_in_log']} OrderPlaced in the log:"
        f" {'agree' if agree else 'DISAGREE'}"
    )
    agree = check["answered_201"] == check["rows_written"]
    lines.append(
        f"check: {check['answered_201']} answers 201 of the minimal write (warm-up"
        f" included), {check['rows_written']} rows in bench_row:"
        f" {'agree' if agree else 'DISAGREE'}"
    )
    for key, _ in ROWS:
        phase = results["phases"][key]
        if phase["unexpected"]:
            lines.append(
                f"{key}: statuses {phase['statuses']}, errors {phase['errors']};"
                f" e.g. {phase['unexpected_samples'][:2]}"
            )
    if not honest(results):
        lines.append("FAILED: unexpected answers or a mismatch with the log (above)")
    lines.append(f"total {meta['elapsed_seconds']:.0f}s")
    return "\n".join(lines)
