"""``manage.py catalog add <sku> --name NAME --price 12.50 --stock N``."""

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from inventory.catalog import put_product


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

    def handle(self, *args: object, **options: object) -> None:
        if options["stock"] < 0:
            raise CommandError("--stock must be 0 or more")
        try:
            product, created = put_product(
                sku=options["sku"],
                name=options["name"],
                price=_price(options["price"]),
                stock=options["stock"],
                currency=options["currency"],
            )
        except ValidationError as error:
            raise CommandError(f"invalid product: {'; '.join(error.messages)}")
        verb = "added" if created else "updated"
        self.stdout.write(
            f"{verb} {product.sku} {product.name!r} {product.price} {product.currency},"
            f" stock {product.on_hand}"
        )
