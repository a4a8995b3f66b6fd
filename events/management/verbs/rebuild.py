"""``events rebuild PROJECTION``: side by side, then switch atomically."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tqdm import tqdm

from events.store import projections, rebuild

NAME = "rebuild"
HELP = "Rebuild a projection side by side, then switch to it."


def add_arguments(parser: CommandParser) -> None:
    parser.add_argument("projection", help="e.g. orders.availability")


def run(options: dict[str, Any], command: BaseCommand) -> None:
    try:
        declared = projections.get(options["projection"])
    except projections.UnknownProjection as error:
        raise CommandError(str(error)) from None
    total = rebuild.events_to_fold(declared)
    with tqdm(total=total, unit="ev", file=sys.stderr, desc=declared.name) as bar:
        try:
            report = rebuild.rebuild(declared, progress=bar.update)
        except Exception as error:
            raise CommandError(
                f"rebuild of {declared.name} failed, the live model is untouched: "
                f"{type(error).__name__}: {error}"
            ) from error
    rows = ", ".join(f"{table} {count}" for table, count in report.rows.items())
    verdict = "differed from the rebuild" if report.changed else "matched it"
    command.stdout.write(
        f"rebuilt {report.projection}: {report.events} events in "
        f"{report.seconds:.2f}s ({report.events_per_second:,.0f} events/s); rows: "
        f"{rows}; checksum {report.checksum}; the live model {verdict}"
    )
