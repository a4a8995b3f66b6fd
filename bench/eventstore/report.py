"""The printed event-store section (results["eventstore"], see bench.eventstore)."""

from __future__ import annotations

from typing import Any


def _ratio(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _met(target: dict[str, Any]) -> str:
    if target["met"] is None:
        return "not measured"
    return "met" if target["met"] else "MISSED"


def render(es: dict[str, Any], baselines: dict[str, float]) -> list[str]:
    lines = [
        "",
        f"event store: ours vs the peer, {es['peer']} in database"
        f" {es['peer_database']} on the same server; snapshots every"
        f" {es['snapshot_every']} events on both sides",
    ]
    loads = es.get("loads")
    if loads:
        lines.append(
            "aggregate load, ms (median; built untimed in"
            f" {loads['build_seconds']['ours']:.1f}s ours,"
            f" {loads['build_seconds']['peer']:.1f}s peer)"
        )
        header = (
            f"{'events':>8}{'raw':>10}{'raw 3col':>10}{'ours snap':>11}"
            f"{'peer snap':>11}{'o/p':>6}{'ours full':>11}{'x raw':>7}{'x 3col':>7}"
            f"{'peer full':>11}{'o/p':>6}{'runs':>5}"
        )
        lines.append(header)
        lines.append("-" * len(header))
        for size, row in loads["sizes"].items():
            lines.append(
                f"{int(size):>8,}{row['raw_select']['ms']:>10.2f}"
                f"{row['raw_select_narrow']['ms']:>10.2f}"
                f"{row['ours_snapshot']['ms']:>11.2f}"
                f"{row['peer_snapshot']['ms']:>11.2f}"
                f"{_ratio(row['snapshot_ours_over_peer']):>6}"
                f"{row['ours_no_snapshot']['ms']:>11.2f}"
                f"{_ratio(row['no_snapshot_over_raw']):>7}"
                f"{_ratio(row['no_snapshot_over_narrow']):>7}"
                f"{row['peer_no_snapshot']['ms']:>11.2f}"
                f"{_ratio(row['no_snapshot_ours_over_peer']):>6}"
                f"{row['raw_select']['runs']:>5}"
            )
        lines.append(
            "snap = with snapshots (none below 100 events), full = without (every"
            " event folded); raw = psycopg fetchall of the rows and the 14 columns our"
            " load reads, 3col = the same rows, only type, version, payload (what a"
            " fold needs); x = ours full / raw; o/p = ours/peer"
        )
    appends = es.get("appends")
    if appends:
        orm = baselines.get("orm_single")
        lines.append("")
        lines.append(
            f"appends, events/s ({appends['seconds']:.0f}s each, round-robin over"
            f" {appends['aggregates']} aggregates; ours: repository.save in"
            " transaction.atomic; peer: Application.save)"
        )
        header = f"{'per commit':>12}{'ours':>10}{'peer':>10}{'o/p':>7}{'/orm-1':>8}"
        lines.append(header + "  target")
        lines.append("-" * (len(header) + 22))
        for per in ("1", "10"):
            row = appends[per]
            target = es["targets"][f"appends_{per}_vs_peer"]
            lines.append(
                f"{per:>12}{row['ours_per_second']:>10,.0f}"
                f"{row['peer_per_second']:>10,.0f}{_ratio(row['ours_over_peer']):>7}"
                f"{_ratio(row.get('ours_over_orm_single')):>8}"
                f"  {target['target']} {_met(target)}"
            )
        if orm:
            lines.append(
                f"/orm-1: ours / the ORM-create-per-commit baseline ({orm:,.0f} rows/s)"
            )
    rebuild = es.get("rebuild")
    if rebuild:
        ours, theirs = rebuild["ours"], rebuild["peer"]
        lines.append("")
        lines.append(
            f"projection rebuild from offset 0, {rebuild['events']:,} events over"
            f" {rebuild['aggregates']:,} aggregates (one row per aggregate)"
        )
        lines.append(
            f"  ours  events.rebuild.rebuild        {ours['per_second']:>10,.0f}"
            f" events/s ({ours['seconds']:.1f}s, side-by-side, checksummed switch)"
        )
        lines.append(
            f"  peer  ProjectionRunner + tracking   {theirs['per_second']:>10,.0f}"
            f" events/s ({theirs['seconds']:.1f}s, one transaction per event)"
        )
        lines.append(f"  ours/peer {_ratio(rebuild['ours_over_peer'])}")
    lines.append("")
    lines.append("event-store targets:")
    for name, target in es["targets"].items():
        value = target["value"]
        shown = "-" if value is None else f"{value:,.2f}"
        lines.append(f"  {name:<28}{shown:>12}  {target['target']}: {_met(target)}")
    parts = ", ".join(f"{k} {v:.0f}s" for k, v in es.get("part_seconds", {}).items())
    lines.append(f"event store part: {es['elapsed_seconds']:.0f}s ({parts})")
    return lines
