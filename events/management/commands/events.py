"""``manage.py events <verb>``: operate the event platform. Each verb is a module of
``events.management.verbs``; every failure is a clear message on stderr and a non-zero
exit (CommandError)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from events.management.verbs import (
    deadletters,
    pause,
    prune,
    rebuild,
    repartition,
    replay,
    resume,
    sagas,
    schemas,
    status,
    trace,
)

VERBS = (
    status,
    trace,
    replay,
    deadletters,
    pause,
    resume,
    prune,
    rebuild,
    sagas,
    schemas,
    repartition,
)


class Command(BaseCommand):
    help = "Operate the event platform: " + ", ".join(verb.NAME for verb in VERBS) + "."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        for verb in VERBS:
            verb.add_arguments(actions.add_parser(verb.NAME, help=verb.HELP))

    def handle(self, *args: object, **options: object) -> None:
        (verb,) = [v for v in VERBS if v.NAME == options["action"]]
        verb.run(options, self)
