"""``events sagas list [--status S] [--saga NAME] [--key KEY] [--correlation ID]
| show ID | retry ID | resolve ID --note TEXT``: the admin's filters (status, saga)
and search (key, correlation id); ``show`` prints the steps by name and the
timeline, as the saga's admin page does."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from events.models import SagaInstance
from events.ops.saga_views import listed_step, saga_view
from events.sagas import staff
from events.sagas.registry import all_sagas

from . import count_arg
from .deadletters import uuid_arg

NAME = "sagas"
HELP = "List and show sagas; retry or resolve them."
DEFAULT_STATUS = SagaInstance.Status.NEEDS_ATTENTION


def add_arguments(parser: CommandParser) -> None:
    verbs = parser.add_subparsers(dest="saga_verb", required=True)
    listing = verbs.add_parser(
        "list", help=f"Sagas of a status ({DEFAULT_STATUS} unless --status is given)."
    )
    listing.add_argument(
        "--status",
        default=DEFAULT_STATUS,
        choices=[*SagaInstance.Status.values, "any"],
    )
    listing.add_argument("--saga", help="The saga's name, e.g. orders.fulfilment.")
    listing.add_argument("--key", help="The saga's key, e.g. an order's id.")
    listing.add_argument("--correlation", type=uuid_arg, help="A correlation id.")
    show = verbs.add_parser("show", help="Steps by name, state and timeline.")
    show.add_argument("id", type=count_arg)
    retry = verbs.add_parser("retry", help="Send the failed undo again.")
    retry.add_argument("id", type=count_arg)
    resolve = verbs.add_parser("resolve", help="Settled by hand.")
    resolve.add_argument("id", type=count_arg)
    resolve.add_argument("--note", required=True, help="What was done.")


def run(options: dict[str, Any], command: BaseCommand) -> None:
    verb = options["saga_verb"]
    if verb == "list":
        _list(options, command)
        return
    if verb == "show":
        _show(options, command)
        return
    try:
        if verb == "retry":
            instance = staff.retry(options["id"])
        else:
            note = options["note"].strip()
            if not note:
                raise CommandError("--note must say what was done")
            instance = staff.resolve(options["id"], note=note)
    except staff.SagaActionError as error:
        raise CommandError(str(error)) from None
    command.stdout.write(f"saga {instance.id} {instance.key}: now {instance.status}")


def _list(options: dict[str, Any], command: BaseCommand) -> None:
    rows = SagaInstance.objects.order_by("started_at", "id")
    status = options["status"]
    if status != "any":
        rows = rows.filter(status=status)
    if options.get("saga"):
        known = {saga.name for saga in all_sagas()}
        if options["saga"] not in known:
            raise CommandError(
                f"no saga named {options['saga']!r} (declared: "
                f"{', '.join(sorted(known)) or 'none'})"
            )
        rows = rows.filter(saga=options["saga"])
    if options.get("key"):
        rows = rows.filter(key=options["key"])
    if options.get("correlation"):
        rows = rows.filter(correlation_id=options["correlation"])
    for row in rows:
        step = listed_step(row)
        command.stdout.write(
            f"{row.id:>6} {row.saga:<24} {row.key:<38} {row.status:<16} "
            f"{step:<22} {row.reason[:60]}"
        )
    if status == "any":
        command.stdout.write(f"{rows.count()} sagas")
        return
    command.stdout.write(
        f"{rows.count()} sagas with status {status} "
        f"(of {SagaInstance.objects.count()} in all; --status any lists every one)"
    )


def _show(options: dict[str, Any], command: BaseCommand) -> None:
    instance = SagaInstance.objects.filter(id=options["id"]).first()
    if instance is None:
        raise CommandError(f"no saga with id {options['id']}")
    view = saga_view(instance)
    out = command.stdout
    out.write(
        f"saga {view.id} {view.saga} {view.key}: {view.status} at step "
        f"{view.step_index + 1}, {view.step_name}"
        + (f" (deadline {view.deadline:%Y-%m-%d %H:%M:%S})" if view.deadline else "")
        + (f": {view.reason}" if view.reason else "")
    )
    out.write("")
    for step in view.steps:
        sent = f"sent {step.sent.at:%H:%M:%S}" if step.sent else "not sent"
        answer = (
            f"{step.answer.type} {step.answer.at:%H:%M:%S}"
            if step.answer
            else step.failed_reason or "-"
        )
        undo = ""
        if step.undo:
            undone = f"confirmed {step.undone.at:%H:%M:%S}" if step.undone else "open"
            undo = f"  undo {step.undo_command} {step.undo.at:%H:%M:%S}: {undone}"
        out.write(
            f"  {step.index + 1}. {step.name:<20} {step.state:<11} {sent}, "
            f"answer {answer}{undo}"
        )
    out.write("")
    out.write("  state:")
    for name, value in view.fields:
        out.write(f"    {name:<28} {value}")
    out.write("")
    out.write("  timeline:")
    for moment in view.timeline:
        receipts = ", ".join(f"{r.subscription} {r.state}" for r in moment.receipts)
        out.write(
            f"    {moment.at:%Y-%m-%d %H:%M:%S.%f}  {moment.type:<32} "
            f"{moment.details[:60]}" + (f"  [{receipts}]" if receipts else "")
        )
