"""``manage.py catalog add <sku> --name NAME --price 12.50 --stock N [--if-missing]``.

``--if-missing`` creates the product only when the SKU does not exist, and otherwise
changes nothing (seeding uses it: a second ``make run`` must not reset the stock the
shop's orders took)."""

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from events import bus
from inventory.commands import Put
from inventory.contracts import PutProduct


def _price(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise CommandError(f"--price must be a decimal amount like 12.50, not {text!r}")
    if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")):
        raise CommandError(f"--price must be >= 0 with at most 2 decimals, not {text}")
    return value


class Command(BaseCommand):
    help = "Manage the catalogue."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser(
            "add", help="Create or update a product and its stock."
        )
        add.add_argument("sku")
        add.add_argument("--name", required=True)
        add.add_argument("--price", required=True)
        add.add_argument("--stock", type=int, required=True)
        add.add_argument("--currency", default="EUR")
        add.add_argument(
            "--if-missing",
            action="store_true",
            help="Only create it: an existing product keeps its name, price and stock.",
        )

    def handle(self, *args: object, **options: Any) -> None:
        if options["stock"] < 0:
            raise CommandError("--stock must be 0 or more")
        try:
            put = bus.outcome(
                PutProduct(
                    sku=str(options["sku"]),
                    name=str(options["name"]),
                    price=_price(str(options["price"])),
                    stock=int(options["stock"]),
                    currency=str(options["currency"]),
                    only_if_missing=bool(options["if_missing"]),
                ),
                Put,
            )
        except ValidationError as error:
            raise CommandError(f"invalid product: {'; '.join(error.messages)}")
        product = put.product
        verb = "added" if put.created else "updated"
        if options["if_missing"] and not put.created:
            verb = "kept (it exists)"
        self.stdout.write(
            f"{verb} {product.sku} {product.name!r} {product.price} {product.currency},"
            f" stock {product.on_hand}"
        )
