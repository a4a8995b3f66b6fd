"""``events deadletters list|groups|show|redrive|discard``, with the admin's filters
(subscription, type, status) and search (key, correlation id, message id).

``redrive`` is told first when a letter holds a command of a saga that has ended: it
then sends nothing and says which and why (exit 1), unless ``--skip-ended`` (send the
others) or ``--even-if-saga-ended``. ``redrive --group ID`` redrives a failure group
as the admin does: the oldest letter first, the rest only if it was handled."""

from __future__ import annotations

from argparse import ArgumentTypeError
from typing import Any
from uuid import UUID

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet

from events.delivery import deadletters
from events.models import DeadLetter
from events.ops import failure_groups, redrive
from events.ops.links import key_link

from . import count_arg, subscription_named

NAME = "deadletters"
HELP = "List, group, show, redrive, discard."
SHOWN = (
    "id",
    "status",
    "subscription",
    "type",
    "version",
    "topic",
    "key",
    "partition",
    "offset",
    "message_id",
    "correlation_id",
    "causation_id",
    "recorded_at",
    "parked_at",
    "attempts",
    "error",
)
STATUSES = [*DeadLetter.Status.values, "any"]


def uuid_arg(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise ArgumentTypeError(f"not a UUID: {text!r}") from None


def add_arguments(parser: CommandParser) -> None:
    verbs = parser.add_subparsers(dest="verb", required=True)
    listing = verbs.add_parser("list", help="Dead letters, oldest first.")
    _filters(listing)
    _search(listing)
    listing.add_argument("--status", default="parked", choices=STATUSES)
    groups = verbs.add_parser(
        "groups", help="Dead letters by failure (as the admin's 'By failure')."
    )
    _filters(groups)
    groups.add_argument("--status", default="parked", choices=STATUSES)
    one = verbs.add_parser("show")
    one.add_argument("id", type=count_arg)
    again = verbs.add_parser(
        "redrive", help="Deliver again: ids, --all (filtered) or --group ID."
    )
    _selection(again)
    again.add_argument("--group", metavar="ID", help="A failure group's id.")
    ended = again.add_mutually_exclusive_group()
    ended.add_argument(
        "--skip-ended",
        action="store_true",
        help="Leave out letters whose saga has ended, send the others.",
    )
    ended.add_argument(
        "--even-if-saga-ended",
        action="store_true",
        help="Send letters whose saga has ended too.",
    )
    _selection(verbs.add_parser("discard", help="Give up on them, keeping the record."))


def _filters(parser: CommandParser) -> None:
    parser.add_argument("--subscription")
    parser.add_argument("--type", help="Wire name, e.g. payments.ChargePayment.")


def _search(parser: CommandParser) -> None:
    parser.add_argument("--key", help="The message's key, e.g. an order's id.")
    parser.add_argument("--correlation", type=uuid_arg, help="A correlation id.")
    parser.add_argument("--message", type=uuid_arg, help="A message id.")


def _selection(parser: CommandParser) -> None:
    parser.add_argument("ids", nargs="*", type=count_arg)
    parser.add_argument(
        "--all",
        action="store_true",
        help="Every parked dead letter matching the filters.",
    )
    _filters(parser)
    _search(parser)


def run(options: dict[str, Any], command: BaseCommand) -> None:
    {
        "list": _list,
        "groups": _groups,
        "show": _show,
        "redrive": _redrive,
        "discard": _discard,
    }[options["verb"]](options, command)


def _letters(
    options: dict[str, Any], status: str | None = "parked"
) -> QuerySet[DeadLetter]:
    if options.get("subscription"):
        subscription_named(options["subscription"])
    return deadletters.matching(
        subscription=options.get("subscription"),
        type=options.get("type"),
        status=status,
        key=options.get("key"),
        correlation_id=options.get("correlation"),
        message_id=options.get("message"),
    )


def _status(options: dict[str, Any]) -> str | None:
    return None if options["status"] == "any" else options["status"]


def _list(options: dict[str, Any], command: BaseCommand) -> None:
    letters = _letters(options, _status(options))
    for letter in letters:
        link = key_link(letter.type, letter.key)
        target = f"{link.label} {letter.key}" if link.label else letter.key
        command.stdout.write(
            f"{letter.id:>6} {letter.status:<9} {letter.subscription:<24} "
            f"{letter.type:<32} {target:<44} attempts {letter.attempts}  "
            f"{letter.error[:80]}"
        )
    command.stdout.write(f"{letters.count()} dead letters")


def _groups(options: dict[str, Any], command: BaseCommand) -> None:
    if options.get("subscription"):
        subscription_named(options["subscription"])
    found = failure_groups.groups(
        status=_status(options),
        subscription=options.get("subscription"),
        type=options.get("type"),
    )
    for group in found:
        command.stdout.write(
            f"{group.id}  {group.count:>5}  {group.subscription:<20} "
            f"{group.type:<30} {group.error_class:<22} "
            f"{group.first_seen:%Y-%m-%d %H:%M:%S} .. "
            f"{group.last_seen:%Y-%m-%d %H:%M:%S}  {group.shape[:70]}"
        )
    letters = sum(g.count for g in found)
    command.stdout.write(
        f"{letters} dead letters in {len(found)} failure groups "
        "(redrive one with: events deadletters redrive --group ID)"
    )


def _show(options: dict[str, Any], command: BaseCommand) -> None:
    letter = DeadLetter.objects.filter(id=options["id"]).first()
    if letter is None:
        raise CommandError(f"no dead letter with id {options['id']}")
    for name in SHOWN:
        command.stdout.write(f"{name:>15}: {getattr(letter, name)}")
    command.stdout.write(f"{'payload':>15}: {letter.payload}")
    command.stdout.write(f"{'headers':>15}: {letter.headers}")
    late = redrive.warnings([letter.id]).get(letter.id)
    if late:
        command.stdout.write(f"{'warning':>15}: {late}")
    command.stdout.write(letter.traceback)


def _selected(options: dict[str, Any]) -> list[int]:
    if bool(options["ids"]) == bool(options["all"]):
        raise CommandError("give dead letter ids, or --all (with optional filters)")
    if options["all"]:
        return list(_letters(options).values_list("id", flat=True))
    known = set(
        DeadLetter.objects.filter(id__in=options["ids"]).values_list("id", flat=True)
    )
    missing = sorted(set(options["ids"]) - known)
    if missing:
        raise CommandError(f"no dead letter with id {', '.join(map(str, missing))}")
    return list(options["ids"])


def _redrive(options: dict[str, Any], command: BaseCommand) -> None:
    ended: redrive.Ended = (
        "include"
        if options["even_if_saga_ended"]
        else "skip"
        if options["skip_ended"]
        else "refuse"
    )
    if options["group"]:
        if options["ids"] or options["all"]:
            raise CommandError("give --group ID, or ids, or --all: not together")
        try:
            done = redrive.redrive_group(options["group"], ended=ended)
        except failure_groups.UnknownGroup as error:
            raise CommandError(str(error)) from None
    else:
        done = redrive.redrive(_selected(options), ended=ended)
    for letter_id, why in done.refused.items():
        command.stderr.write(f"dead letter {letter_id} not sent: {why}")
    for letter_id, error in done.failed.items():
        command.stderr.write(f"dead letter {letter_id} failed again: {error}")
    command.stdout.write(done.summary())
    if done.refused and not done.sent and ended == "refuse":
        raise CommandError(
            f"nothing sent: {len(done.refused)} dead letters hold a command of a saga "
            "that has ended (--skip-ended sends the others, --even-if-saga-ended all)"
        )
    if done.failed:
        raise CommandError(f"{len(done.failed)} dead letters failed again")


def _discard(options: dict[str, Any], command: BaseCommand) -> None:
    count = deadletters.discard(_selected(options))
    command.stdout.write(f"discarded {count} dead letters")
