"""What every bench's report shares: the load-average line, percentiles, and where
the figures go (the table on stdout, the JSON under ``var/bench/``)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from bench.common.cli import save_json

BUSY = "; NOTE: busy before the start, figures are lower than on an idle box"


def percentile(values: Iterable[float], p: float) -> float:
    """Nearest-rank percentile (NaN for no values)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


def load_average(meta: Mapping[str, Any], *, after_note: str = "") -> str:
    """The 1-minute load average before and after the run (``meta["load_before"]``,
    ``meta["load_after"]``: ``os.getloadavg()``), with a warning when the machine
    was already busy at the start: other processes take CPU from the bench."""
    before, after = meta["load_before"][0], meta["load_after"][0]
    busy = before > 0.75 * (meta["cpus"] or 1)
    return (
        f"load average (1 min) before: {before:.2f}, after: {after:.2f}{after_note}"
        + (BUSY if busy else "")
    )


def publish(text: str, payload: dict[str, Any], *, out: Path | None, name: str) -> Path:
    """Print the report, write ``payload`` to ``out`` (default ``var/bench/<name>``)
    and say where it went."""
    from django.conf import settings

    path = out or Path(settings.BASE_DIR) / "var" / "bench" / name
    print(text)
    save_json(payload, path)
    print(f"results: {path}")
    return path
