"""``events status [--subscription NAME] [--all]``: lag and dead letters."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from events.delivery.subscriptions import registry
from events.ops import status

from . import subscription_named

NAME = "status"
HELP = "Lag and dead letters per subscription."


def add_arguments(parser: CommandParser) -> None:
    parser.add_argument("--subscription", help="Only this subscription.")
    parser.add_argument("--all", action="store_true", help="Show caught-up partitions.")


def run(options: dict[str, Any], command: BaseCommand) -> None:
    subscriptions = (
        [subscription_named(options["subscription"])]
        if options["subscription"]
        else registry.all()
    )
    parked = status.dead_letter_counts()
    paused = status.pauses()
    out = command.stdout
    out.write(
        f"{'subscription':<28} {'part':>4} {'head':>9} {'checkpoint':>10} "
        f"{'lag':>7} {'lag_s':>8}  state"
    )
    for subscription in subscriptions:
        rows = status.partition_status(subscription)
        for row in rows:
            if not options["all"] and row.lag == 0 and not row.retrying:
                continue
            state = f"retrying: {row.last_error[:60]}" if row.retrying else "ok"
            out.write(
                f"{row.subscription:<28} {row.partition:>4} {row.head:>9} "
                f"{row.checkpoint:>10} {row.lag:>7} {row.lag_seconds:>8.1f}  {state}"
            )
        pause = paused.get(subscription.name)
        if pause is not None:
            out.write(f"{subscription.name:<28} {status.pause_text(pause)}")
        lag = sum(r.lag for r in rows)
        oldest = max((r.lag_seconds for r in rows), default=0.0)
        out.write(
            f"{subscription.name:<28} total lag {lag} messages, oldest "
            f"{oldest:.1f}s, dead letters {parked.get(subscription.name, 0)}"
        )
