"""``manage.py customers add <email> --name NAME --password PASSWORD``."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from customers.registration import ensure_customer


class Command(BaseCommand):
    help = "Manage customers."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser(
            "add", help="Create a customer unless the email exists."
        )
        add.add_argument("email")
        add.add_argument("--name", required=True)
        add.add_argument("--password", required=True)

    def handle(self, *args: object, **options: object) -> None:
        try:
            customer, created = ensure_customer(
                email=options["email"],
                name=options["name"],
                password=options["password"],
            )
        except ValidationError as error:
            raise CommandError(f"invalid customer: {'; '.join(error.messages)}")
        verb = "added" if created else "exists:"
        self.stdout.write(f"{verb} customer {customer.email} id {customer.id}")
