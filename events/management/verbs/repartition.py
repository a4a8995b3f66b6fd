"""``events repartition N [--dry-run] [--max-lag M] [--pause-timeout S] [--timeout S]``:
raise the partition count of a live shop, keeping every key's order."""

from __future__ import annotations

import sys
from argparse import ArgumentTypeError
from typing import Any, Protocol

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tqdm import tqdm

from events.dispatch.current import get_dispatcher
from events.ops import repartition

from . import count_arg

NAME = "repartition"
HELP = "Raise the partition count, keeping every key's order."


def seconds_arg(text: str) -> float:
    """A number of seconds, more than 0."""
    try:
        value = float(text)
    except ValueError:
        raise ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise ArgumentTypeError(f"must be more than 0: {text}")
    return value


def add_arguments(parser: CommandParser) -> None:
    parser.add_argument("partitions", type=count_arg, help="The new count.")
    parser.add_argument(
        "--dry-run", action="store_true", help="Show what would happen; change nothing."
    )
    parser.add_argument(
        "--max-lag",
        type=count_arg,
        default=repartition.DEFAULT_MAX_LAG,
        help="Refuse while a subscription is more messages behind than this "
        f"(default {repartition.DEFAULT_MAX_LAG}).",
    )
    parser.add_argument(
        "--pause-timeout",
        type=seconds_arg,
        default=repartition.DEFAULT_PAUSE_SECONDS,
        help="The longest writers may be held back while the ones in flight commit "
        f"(default {repartition.DEFAULT_PAUSE_SECONDS:g} s); then refuse.",
    )
    parser.add_argument(
        "--timeout",
        type=seconds_arg,
        default=repartition.DEFAULT_TIMEOUT_SECONDS,
        help="The longest to follow the drain of the old layout "
        f"(default {repartition.DEFAULT_TIMEOUT_SECONDS:g} s).",
    )


def run(options: dict[str, Any], command: BaseCommand) -> None:
    out = command.stdout
    wanted = options["partitions"]
    pending = repartition.unsettled()
    if pending is not None and pending.partitions == wanted and not options["dry_run"]:
        out.write(
            f"the raise from {pending.partitions_before} to {wanted} partitions at "
            f"{pending.cut_at:%H:%M:%S} is draining; following it"
        )
        settle(command, pending.generation, wanted, options["timeout"])
        return
    found = repartition.plan(wanted, max_lag=options["max_lag"])
    if options["dry_run"]:
        show_plan(found, options, out)
        if found.refusals:
            raise CommandError("it would refuse: " + "; ".join(found.refusals))
        out.write("dry run: nothing was changed")
        return
    try:
        cut = repartition.switch(
            wanted, max_lag=options["max_lag"], pause_timeout=options["pause_timeout"]
        )
    except repartition.RepartitionRefused as error:
        raise CommandError(
            "refused, nothing was changed: " + "; ".join(error.reasons)
        ) from None
    out.write(
        f"{cut.before} -> {cut.after} partitions at {cut.cut_at:%H:%M:%S}: writes go "
        f"to the new layout; fences {format_fences(cut.fences, cut.before)}"
    )
    settle(command, cut.generation, cut.after, options["timeout"])


def settle(command: BaseCommand, generation: int, after: int, timeout: float) -> None:
    left = follow(generation, timeout)
    if left:
        raise CommandError(
            f"switched to {after} partitions, but after {timeout:g} s "
            f"{repartition.describe(left)}. Order is kept meanwhile (the keys that "
            f"moved wait for them); run `events repartition {after}` again to "
            "follow the drain"
        )
    command.stdout.write(
        f"settled: every subscription has delivered the old layout; {after} partitions"
    )


def follow(generation: int, timeout: float) -> dict[str, int]:
    """The progress bar of the drain (messages of the old layout left)."""
    bar = tqdm(
        desc="old layout left", unit="msg", file=sys.stderr, leave=False, disable=None
    )
    peak = 0

    def progress(left: int) -> None:
        nonlocal peak
        peak = max(peak, left)
        bar.total = peak
        bar.n = peak - left
        bar.refresh()

    try:
        return repartition.wait_settled(
            generation,
            timeout=timeout,
            progress=progress,
            wake=get_dispatcher().wake,
        )
    finally:
        bar.close()


def format_fences(fences: dict[int, int], before: int) -> str:
    return " ".join(f"p{p}@{fences[p]}" for p in range(before))


class Lines(Protocol):
    """Where the plan is written, a line a call: a command's ``stdout``."""

    def write(self, line: str, /) -> object: ...


def show_plan(found: repartition.Plan, options: dict[str, Any], out: Lines) -> None:
    out.write(
        f"partitions: {found.before} -> {found.after} (the count in the database; "
        f"EVENTS_PARTITIONS here: {settings.EVENTS_PARTITIONS})"
    )
    if found.after > found.before:
        out.write(
            f"keys keeping their partition: {found.staying:.0%}; the others move to a "
            "partition fed by these old ones:"
        )
        out.write(
            "  "
            + ", ".join(
                f"p{q} <- {'+'.join(f'p{p}' for p in feeders)}"
                for q, feeders in found.moves.items()
            )
        )
    out.write(f"{'subscription':<28} {'lag':>8}  state")
    for standing in found.standings:
        state = ", ".join(standing.retrying) if standing.retrying else "ok"
        out.write(f"{standing.subscription:<28} {standing.lag:>8}  {state}")
    out.write(
        "what would happen:\n"
        f"  1. new writes wait while those in flight commit (at most "
        f"{options['pause_timeout']:g} s), the heads of p0..p{found.before - 1} "
        f"are recorded as fences and the count becomes {found.after}: writes go on "
        "at once on the new layout\n"
        "  2. each subscription delivers every partition's old layout up to its "
        "fence before the messages of the keys that moved (each new-layout "
        "partition waits only for its feeders above)\n"
        f"  3. this command follows that drain (at most {options['timeout']:g} s) "
        "and records the raise as settled"
    )
