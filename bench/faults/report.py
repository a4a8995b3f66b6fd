"""The fault suite's table: one row per round, then the notes of each round (what the
fault did and when, the books) and the load average."""

from __future__ import annotations

from typing import Any

COLUMNS = (
    "round",
    "accepted",
    "5xx",
    "lost",
    "duplicated",
    "double charges",
    "oversells",
    "settle s",
    "dead letters",
    "manual steps",
)


def row(result: Any) -> list[str]:
    errors = sum(result.server_errors.values())
    by_status = ", ".join(f"{s}: {n}" for s, n in sorted(result.server_errors.items()))
    letters = sum(result.dead_letters.values()) + len(result.unexplained)
    unexplained = (
        f" ({len(result.unexplained)} unexplained)" if result.unexplained else ""
    )
    settle = f"{result.settle_seconds:.1f}" if result.settled else "NOT SETTLED"
    return [
        result.name,
        str(result.accepted),
        f"{errors} ({by_status})" if errors else "0",
        str(result.lost),
        str(result.duplicated),
        str(result.double_charges),
        str(result.oversells),
        settle,
        f"{letters}{unexplained}",
        str(result.manual_steps),
    ]


def table(results: list[Any], *, load: tuple[Any, Any], seconds: float) -> str:
    rows = [list(COLUMNS), *(row(r) for r in results)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]

    def line(cells: list[str]) -> str:
        padded = (c.ljust(w) for c, w in zip(cells, widths, strict=True))
        return "| " + " | ".join(padded) + " |"

    lines = ["", line(rows[0]), line(["-" * w for w in widths])]
    lines += [line(cells) for cells in rows[1:]]
    lines.append("")
    for result in results:
        lines.append(
            f"{result.name} ({result.fault}; load average {result.load[0]:.2f} ->"
            f" {result.load[1]:.2f}): {result.refused} refused out of stock,"
            f" {result.books}"
        )
        for cause, n in result.dead_letters.items():
            lines.append(f"    {n} dead letters: {cause}")
        for letter in result.unexplained:
            lines.append(f"    UNEXPLAINED dead letter: {letter}")
        for note in result.notes:
            lines.append(f"    {note}")
    before, after = load
    lines.append(
        f"\nload average (1, 5, 15 min): {before[0]:.2f} {before[1]:.2f}"
        f" {before[2]:.2f} at the start, {after[0]:.2f} {after[1]:.2f}"
        f" {after[2]:.2f} at the end; {seconds:.0f} s in all (2 cores shared)"
    )
    return "\n".join(lines)
