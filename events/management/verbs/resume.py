"""``events resume SUBSCRIPTION``: end a pause, by hand or of an outage."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from events.delivery import outages
from events.dispatch.current import wake_subscription

from . import subscription_named

NAME = "resume"
HELP = "Resume a paused subscription (its partitions are woken at once)."


def add_arguments(parser: CommandParser) -> None:
    parser.add_argument("subscription")


def run(options: dict[str, Any], command: BaseCommand) -> None:
    subscription = subscription_named(options["subscription"])
    if not outages.resume(subscription.name, why="resumed by hand"):
        raise CommandError(f"{subscription.name} is not paused")
    wake_subscription(subscription.name)
    command.stdout.write(f"{subscription.name} resumed; its partitions are woken")
