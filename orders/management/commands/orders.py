"""``manage.py orders show <order_id> [--as-of TIME] [--json]``: an order's state and
event history, now or as of a past time. ``manage.py orders list [--customer EMAIL]
[--status S] [--payment P] [--shipment S] [--search TEXT] [--limit N]``: orders newest
first, with the admin's filters and search (``orders.queries``).

Every failure is a clear message on stderr and a non-zero exit (CommandError)."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from events import message_type
from orders import queries
from orders.domain import OrderNotFoundError
from orders.history import order_as_of


def _order_id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise CommandError(f"not an order id (a UUID): {text!r}") from None


def _time(text: str) -> datetime:
    """An ISO 8601 time (naive means the server's time zone); a bare date means the
    end of that day."""
    try:
        value = parse_datetime(text)
        if value is None:
            day = parse_date(text)
            if day is not None:
                value = datetime.combine(day, datetime.max.time())
    except ValueError:
        value = None
    if value is None:
        raise CommandError(
            f"--as-of: not an ISO 8601 time: {text!r} (e.g. 2026-11-28T14:00Z)"
        )
    return value if timezone.is_aware(value) else timezone.make_aware(value)


class Command(BaseCommand):
    help = "Inspect orders."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        show = actions.add_parser(
            "show", help="An order's state and event history (now or as of a time)."
        )
        show.add_argument("order_id")
        show.add_argument(
            "--as-of",
            dest="as_of",
            help="ISO 8601 time, e.g. 2026-11-28T14:00Z (a bare date: its end).",
        )
        show.add_argument("--json", action="store_true", help="Print JSON.")
        listing = actions.add_parser(
            "list", help="Orders, newest first, filtered as in the admin."
        )
        listing.add_argument(
            "--customer", metavar="EMAIL", help="The customer's email."
        )
        listing.add_argument("--status", choices=queries.STATUSES)
        listing.add_argument("--payment", choices=queries.PAYMENT_STATUSES)
        listing.add_argument("--shipment", choices=queries.SHIPMENT_STATUSES)
        listing.add_argument(
            "--search",
            metavar="TEXT",
            help="As the admin's search box: an order id or its first 8 "
            "characters, an email or part of one, a tracking number or a payment "
            "reference.",
        )
        listing.add_argument("--limit", type=int, default=50, help="At most (50).")

    def handle(self, *args: object, **options: Any) -> None:
        if options["action"] == "list":
            self._list(options)
            return
        order_id = _order_id(options["order_id"])
        as_of = _time(options["as_of"]) if options["as_of"] else None
        try:
            state, events = order_as_of(order_id, as_of)
        except OrderNotFoundError as error:
            raise CommandError(str(error)) from None
        if options["json"]:
            document = {"as_of": as_of, "state": state, "events": events}
            self.stdout.write(json.dumps(document, default=_json_value, indent=2))
        else:
            self._table(state, events, as_of)

    def _list(self, options: dict[str, Any]) -> None:
        if options["limit"] < 1:
            raise CommandError(f"--limit must be 1 or more, not {options['limit']}")
        email = options["customer"]
        if email and not queries.has_customer(email):
            raise CommandError(f"no customer has the email {email!r}")
        found = queries.matching(
            queries.staff_orders(),
            customer=email,
            status=options["status"],
            payment=options["payment"],
            shipment=options["shipment"],
        )
        if options["search"]:
            found = queries.search(found, options["search"])
        rows = list(found[: options["limit"]])
        self.stdout.write(
            f"{'order':<36}  {'placed':<19}  {'customer':<28} {'status':<9} "
            f"{'payment':<8} {'shipment':<9} {'total':>12}"
        )
        for row in rows:
            self.stdout.write(
                f"{row.order_id!s:<36}  {row.created_at:%Y-%m-%d %H:%M:%S}  "
                # customer_email: annotated by queries.staff_orders(), not a field
                f"{(row.customer_email or '?'):<28} {row.status:<9} "  # type: ignore[attr-defined]
                f"{row.payment_status:<8} {row.shipment_status:<9} "
                f"{row.total:>8} {row.currency}"
            )
        total = found.count()
        more = f" (the newest {len(rows)} shown; --limit)" if total > len(rows) else ""
        self.stdout.write(f"{total} order{'s' if total != 1 else ''}{more}")

    def _table(
        self,
        state: dict[str, Any],
        events: list[dict[str, Any]],
        as_of: datetime | None,
    ) -> None:
        when = f"as of {as_of.isoformat()}" if as_of else "now"
        self.stdout.write(
            f"order {state['order_id']} {when} (version {state['version']})"
        )
        paid = (
            f"yes, {state['amount_paid']} {state['currency']} "
            f"(ref {state['payment_reference']})"
            if state["paid"]
            else f"no ({state['payment_status']})"
        )
        if state["payment_status"] == "refunded":
            paid = f"{paid}, refunded"
        address = state["shipping_address"]
        for label, value in (
            ("status", state["status"]),
            ("customer", state["customer_id"]),
            ("total", f"{state['total']} {state['currency']}"),
            ("paid", paid),
            ("payment", state["payment_method"]),
            (
                "ship to",
                ", ".join(
                    address[k]
                    for k in (
                        "name",
                        "line1",
                        "line2",
                        "postal_code",
                        "city",
                        "country",
                    )
                    if address.get(k)
                ),
            ),
            ("tracking", state["tracking_number"] or "-"),
            ("reason", state["reason"] or "-"),
        ):
            self.stdout.write(f"  {label:<10} {value}")
        self.stdout.write("")
        self.stdout.write(
            f"  {'sku':<20} {'qty':>5} {'unit price':>12} {'line total':>12}"
        )
        for line in state["lines"]:
            total = Decimal(line["unit_price"]) * line["quantity"]
            self.stdout.write(
                f"  {line['sku']:<20} {line['quantity']:>5} "
                f"{line['unit_price']:>12} {total:>12} {line['currency']}"
            )
        self.stdout.write("")
        self.stdout.write(f"  {'ver':>4}  {'recorded at':<32} {'event':<24} data")
        for event in events:
            data = {k: v for k, v in event["data"].items() if k != "order_id"}
            schema = f" (stored v{event['schema_version']})" if _upcast(event) else ""
            self.stdout.write(
                f"  {event['version']:>4}  {event['recorded_at'].isoformat():<32} "
                f"{event['type'].removeprefix('orders.'):<24} "
                f"{json.dumps(data, separators=(',', ':'))}{schema}"
            )


def _json_value(value: object) -> str:
    """Times in full (DjangoJSONEncoder cuts them to milliseconds, and a time copied
    from the output into --as-of would then fall before the event it names)."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _upcast(event: dict[str, Any]) -> bool:
    """Whether the event is stored at an older schema version than it is shown at."""
    return event["schema_version"] != message_type(event["type"]).version
