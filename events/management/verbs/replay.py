"""``events replay SUBSCRIPTION (--to-offset N | --since TIME) [--partition P ...]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from events.dispatch.current import wake_subscription
from events.ops import replay

from . import count_arg, subscription_named, time_arg

NAME = "replay"
HELP = "Move a subscription's checkpoints."


def add_arguments(parser: CommandParser) -> None:
    parser.add_argument("subscription")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--to-offset", type=count_arg, help="Next offset to handle.")
    where.add_argument(
        "--since", type=time_arg, help="First message recorded at/after."
    )
    parser.add_argument(
        "--partition",
        type=count_arg,
        action="append",
        help="Only this partition (repeatable); default all.",
    )


def run(options: dict[str, Any], command: BaseCommand) -> None:
    subscription = subscription_named(options["subscription"])
    try:
        moves = replay.seek(
            subscription,
            to_offset=options["to_offset"],
            since=options["since"],
            partitions=options["partition"],
        )
    except replay.ReplayError as error:
        raise CommandError(str(error)) from None
    for move in moves:
        command.stdout.write(
            f"{subscription.name} p{move.partition}: checkpoint {move.before} -> "
            f"{move.after}"
        )
    wake_subscription(subscription.name, (move.partition for move in moves))
    command.stdout.write("its partitions are woken: running workers replay them now")
