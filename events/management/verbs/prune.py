"""``events prune``: messages past their topic's retention that every reader passed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from events.ops import retention

NAME = "prune"
HELP = "Delete messages past their topic's retention."


def add_arguments(parser: CommandParser) -> None:
    """No arguments: retention comes from the settings."""


def run(options: dict[str, Any], command: BaseCommand) -> None:
    report = retention.prune_log()
    for topic, count in sorted(report.deleted.items()):
        command.stdout.write(f"pruned {count} messages of topic {topic}")
    command.stdout.write(
        f"pruned {sum(report.deleted.values())} messages, "
        f"{report.inbox_deleted} inbox records"
    )
