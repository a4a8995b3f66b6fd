"""``events pause SUBSCRIPTION --reason TEXT`` and ``events resume SUBSCRIPTION``: staff
stop a subscription's delivery until they resume it (``events.delivery.outages``)."""

from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from events.delivery import outages

from . import subscription_named

NAME = "pause"
HELP = "Pause a subscription's delivery by hand (until resumed)."


def add_arguments(parser: CommandParser) -> None:
    parser.add_argument("subscription")
    parser.add_argument("--reason", required=True, help="Why (shown while paused).")


def run(options: dict[str, Any], command: BaseCommand) -> None:
    subscription = subscription_named(options["subscription"])
    try:
        pause = outages.pause_by_hand(
            subscription.name, reason=options["reason"], by=getpass.getuser()
        )
    except outages.PauseError as error:
        raise CommandError(str(error)) from None
    command.stdout.write(
        f"{subscription.name} paused since {pause.paused_at:%Y-%m-%d %H:%M:%S %Z}: "
        f"{pause.reason}; `manage.py events resume {subscription.name}` ends it"
    )
