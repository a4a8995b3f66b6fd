"""``manage.py shipping dispatch <order_id>``: send DispatchShipment for an order."""

from uuid import UUID

from django.core.management.base import BaseCommand, CommandError, CommandParser

from events import DomainError
from shipping.staff import dispatch


def _order_id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise CommandError(f"order id must be a UUID, not {text!r}") from None


class Command(BaseCommand):
    help = "Staff actions on shipments."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        dispatch = actions.add_parser(
            "dispatch", help="Mark an order's shipment dispatched."
        )
        dispatch.add_argument("order_id")

    def handle(self, *args: object, **options: object) -> None:
        order_id = _order_id(str(options["order_id"]))
        try:
            (shipment,) = dispatch(order_ids=[order_id])
        except DomainError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"dispatch of order {order_id} requested ({shipment.tracking_number})"
        )
