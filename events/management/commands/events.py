"""``manage.py events status|replay|deadletters|prune|rebuild|sagas``: operations.

Every failure is a clear message on stderr and a non-zero exit (CommandError)."""

from __future__ import annotations

import sys
from argparse import ArgumentTypeError
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from tqdm import tqdm

from events import (
    deadletters,
    projections,
    rebuild,
    replay,
    retention,
    sagas,
    status,
)
from events.models import DeadLetter, SagaInstance
from events.subscriptions import UnknownSubscription, registry


def _time(text: str) -> datetime:
    value = parse_datetime(text)
    if value is None:
        raise ArgumentTypeError(
            f"not an ISO 8601 time: {text!r} (e.g. 2026-11-28T14:00Z)"
        )
    return value if timezone.is_aware(value) else timezone.make_aware(value)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise ArgumentTypeError(f"must be 0 or more: {value}")
    return value


class Command(BaseCommand):
    help = "Operate the event platform: status, replay, dead letters, prune, rebuild."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        show = actions.add_parser(
            "status", help="Lag and dead letters per subscription."
        )
        show.add_argument("--subscription", help="Only this subscription.")
        show.add_argument(
            "--all", action="store_true", help="Show caught-up partitions."
        )

        seek = actions.add_parser("replay", help="Move a subscription's checkpoints.")
        seek.add_argument("subscription")
        where = seek.add_mutually_exclusive_group(required=True)
        where.add_argument("--to-offset", type=_positive, help="Next offset to handle.")
        where.add_argument(
            "--since", type=_time, help="First message recorded at/after."
        )
        seek.add_argument(
            "--partition",
            type=_positive,
            action="append",
            help="Only this partition (repeatable); default all.",
        )

        letters = actions.add_parser(
            "deadletters", help="List, show, redrive, discard."
        )
        verbs = letters.add_subparsers(dest="verb", required=True)
        listing = verbs.add_parser("list")
        self._filters(listing)
        listing.add_argument(
            "--status", default="parked", choices=[*DeadLetter.Status.values, "any"]
        )
        one = verbs.add_parser("show")
        one.add_argument("id", type=_positive)
        again = verbs.add_parser("redrive", help="Deliver again: one id, or --all.")
        self._selection(again)
        drop = verbs.add_parser("discard", help="Give up on them, keeping the record.")
        self._selection(drop)

        actions.add_parser(
            "prune", help="Delete messages past their topic's retention."
        )

        flows = actions.add_parser("sagas", help="List sagas; retry or resolve them.")
        saga_verbs = flows.add_subparsers(dest="saga_verb", required=True)
        saga_list = saga_verbs.add_parser("list")
        saga_list.add_argument(
            "--status",
            default="needs_attention",
            choices=[*SagaInstance.Status.values, "any"],
        )
        saga_retry = saga_verbs.add_parser("retry", help="Send the failed undo again.")
        saga_retry.add_argument("id", type=_positive)
        saga_resolve = saga_verbs.add_parser("resolve", help="Settled by hand.")
        saga_resolve.add_argument("id", type=_positive)
        saga_resolve.add_argument("--note", required=True, help="What was done.")

        build = actions.add_parser(
            "rebuild", help="Rebuild a projection side by side, then switch to it."
        )
        build.add_argument("projection", help="e.g. orders.availability")

    @staticmethod
    def _filters(parser: CommandParser) -> None:
        parser.add_argument("--subscription")
        parser.add_argument("--type", help="Wire name, e.g. payments.ChargePayment.")

    def _selection(self, parser: CommandParser) -> None:
        parser.add_argument("ids", nargs="*", type=_positive)
        parser.add_argument(
            "--all",
            action="store_true",
            help="Every parked dead letter matching the filters.",
        )
        self._filters(parser)

    def handle(self, *args: object, **options: object) -> None:
        action = options["action"]
        if action == "status":
            self._status(options)
        elif action == "replay":
            self._replay(options)
        elif action == "deadletters":
            getattr(self, f"_deadletters_{options['verb']}")(options)
        elif action == "rebuild":
            self._rebuild(options)
        elif action == "sagas":
            self._sagas(options)
        else:
            report = retention.prune()
            for topic, count in sorted(report.deleted.items()):
                self.stdout.write(f"pruned {count} messages of topic {topic}")
            self.stdout.write(
                f"pruned {sum(report.deleted.values())} messages, "
                f"{report.inbox_deleted} inbox records"
            )

    def _subscription(self, name: str):
        try:
            return registry.get(name)
        except UnknownSubscription as error:
            raise CommandError(str(error)) from None

    def _sagas(self, options: dict) -> None:
        verb = options["saga_verb"]
        try:
            if verb == "retry":
                instance = sagas.retry(options["id"])
            elif verb == "resolve":
                instance = sagas.resolve(options["id"], note=options["note"])
            else:
                rows = SagaInstance.objects.order_by("started_at", "id")
                if options["status"] != "any":
                    rows = rows.filter(status=options["status"])
                for row in rows:
                    self.stdout.write(
                        f"{row.id:>6} {row.saga:<24} {row.key:<38} {row.status:<16} "
                        f"step {row.step}  {row.reason[:60]}"
                    )
                self.stdout.write(f"{rows.count()} sagas")
                return
        except sagas.SagaActionError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"saga {instance.id} {instance.key}: now {instance.status}")

    def _rebuild(self, options: dict) -> None:
        try:
            declared = projections.get(options["projection"])
        except projections.UnknownProjection as error:
            raise CommandError(str(error)) from None
        total = rebuild.events_to_fold(declared)
        with tqdm(total=total, unit="ev", file=sys.stderr, desc=declared.name) as bar:
            try:
                report = rebuild.rebuild(declared, progress=bar.update)
            except Exception as error:
                raise CommandError(
                    f"rebuild of {declared.name} failed, the live model is untouched: "
                    f"{type(error).__name__}: {error}"
                ) from error
        rows = ", ".join(f"{table} {count}" for table, count in report.rows.items())
        verdict = "differed from the rebuild" if report.changed else "matched it"
        self.stdout.write(
            f"rebuilt {report.projection}: {report.events} events in "
            f"{report.seconds:.2f}s ({report.events_per_second:,.0f} events/s); rows: "
            f"{rows}; checksum {report.checksum}; the live model {verdict}"
        )

    def _status(self, options: dict) -> None:
        subscriptions = (
            [self._subscription(options["subscription"])]
            if options["subscription"]
            else registry.all()
        )
        parked = status.dead_letter_counts()
        self.stdout.write(
            f"{'subscription':<28} {'part':>4} {'head':>9} {'checkpoint':>10} "
            f"{'lag':>7} {'lag_s':>8}  state"
        )
        for subscription in subscriptions:
            rows = status.partition_status(subscription)
            for row in rows:
                if not options["all"] and row.lag == 0 and not row.retrying:
                    continue
                state = f"retrying: {row.last_error[:60]}" if row.retrying else "ok"
                self.stdout.write(
                    f"{row.subscription:<28} {row.partition:>4} {row.head:>9} "
                    f"{row.checkpoint:>10} {row.lag:>7} "
                    f"{row.lag_seconds:>8.1f}  {state}"
                )
            lag = sum(r.lag for r in rows)
            oldest = max((r.lag_seconds for r in rows), default=0.0)
            self.stdout.write(
                f"{subscription.name:<28} total lag {lag} messages, oldest "
                f"{oldest:.1f}s, dead letters {parked.get(subscription.name, 0)}"
            )

    def _replay(self, options: dict) -> None:
        subscription = self._subscription(options["subscription"])
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
            self.stdout.write(
                f"{subscription.name} p{move.partition}: checkpoint {move.before} -> "
                f"{move.after}"
            )
        self.stdout.write("running workers pick the replay up within one sweep period")

    def _letters(self, options: dict, status_: str | None = "parked"):
        if options.get("subscription"):
            self._subscription(options["subscription"])
        return deadletters.matching(
            subscription=options.get("subscription"),
            type=options.get("type"),
            status=status_,
        )

    def _deadletters_list(self, options: dict) -> None:
        status_ = None if options["status"] == "any" else options["status"]
        letters = self._letters(options, status_)
        for letter in letters:
            self.stdout.write(
                f"{letter.id:>6} {letter.status:<9} {letter.subscription:<24} "
                f"{letter.type:<32} p{letter.partition}@{letter.offset} "
                f"attempts {letter.attempts}  {letter.error[:80]}"
            )
        self.stdout.write(f"{letters.count()} dead letters")

    def _deadletters_show(self, options: dict) -> None:
        letter = DeadLetter.objects.filter(id=options["id"]).first()
        if letter is None:
            raise CommandError(f"no dead letter with id {options['id']}")
        for name in (
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
        ):
            self.stdout.write(f"{name:>15}: {getattr(letter, name)}")
        self.stdout.write(f"{'payload':>15}: {letter.payload}")
        self.stdout.write(f"{'headers':>15}: {letter.headers}")
        self.stdout.write(letter.traceback)

    def _selected(self, options: dict) -> list[int]:
        if bool(options["ids"]) == bool(options["all"]):
            raise CommandError("give dead letter ids, or --all (with optional filters)")
        if options["all"]:
            return list(self._letters(options).values_list("id", flat=True))
        known = set(
            DeadLetter.objects.filter(id__in=options["ids"]).values_list(
                "id", flat=True
            )
        )
        missing = sorted(set(options["ids"]) - known)
        if missing:
            raise CommandError(f"no dead letter with id {', '.join(map(str, missing))}")
        return options["ids"]

    def _deadletters_redrive(self, options: dict) -> None:
        report = deadletters.redrive(self._selected(options))
        for letter_id, error in report.failed.items():
            self.stderr.write(f"dead letter {letter_id} failed again: {error}")
        self.stdout.write(
            f"redriven {len(report.handled)}, failed {len(report.failed)}, "
            f"skipped {len(report.skipped)} (not parked)"
        )
        if report.failed:
            raise CommandError(f"{len(report.failed)} dead letters failed again")

    def _deadletters_discard(self, options: dict) -> None:
        count = deadletters.discard(self._selected(options))
        self.stdout.write(f"discarded {count} dead letters")
