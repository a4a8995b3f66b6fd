"""``manage.py idempotency prune``: delete idempotency keys past their expiry
(``EVENTS_IDEMPOTENCY_TTL``, 24 h by default). Celery beat runs the same hourly."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from events.commands import idempotency


class Command(BaseCommand):
    help = "Idempotency keys: prune the expired ones."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("prune", help="Delete keys past EVENTS_IDEMPOTENCY_TTL.")

    def handle(self, *args: object, **options: object) -> None:
        deleted = idempotency.prune_expired_keys()
        self.stdout.write(f"pruned {deleted} expired idempotency key(s)")
