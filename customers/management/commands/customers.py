"""``manage.py customers add <email> --name NAME --password PASSWORD``,
``manage.py customers revoke-tokens <email>`` (every live API token of the customer)
and ``manage.py customers prune-tokens`` (tokens expired longer than a lifetime)."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from customers import tokens
from customers.commands import Registration
from customers.contracts import RegisterCustomer
from customers.models import Customer
from events import bus


class Command(BaseCommand):
    help = "Manage customers."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser(
            "add", help="Create a customer unless the email exists."
        )
        add.add_argument("email")
        add.add_argument("--name", required=True)
        add.add_argument(
            "--password",
            required=True,
            help="Checked against the password rules (AUTH_PASSWORD_VALIDATORS), as "
            "the API's registration is.",
        )
        revoke = actions.add_parser(
            "revoke-tokens", help="Revoke every live API token of a customer."
        )
        revoke.add_argument("email")
        actions.add_parser(
            "prune-tokens", help="Delete tokens expired for longer than a lifetime."
        )

    def handle(self, *args: object, **options: object) -> None:
        if options["action"] == "revoke-tokens":
            email = str(options["email"])
            if not Customer.objects.filter(email=email.strip().lower()).exists():
                raise CommandError(f"no customer has the email {email}")
            count = tokens.revoke_all(email=email)
            self.stdout.write(f"revoked {count} token(s) of {email}")
            return
        if options["action"] == "prune-tokens":
            pruned = tokens.prune_expired_tokens()
            self.stdout.write(f"pruned {pruned} expired token(s)")
            return
        try:
            registered = bus.outcome(
                RegisterCustomer(
                    email=str(options["email"]),
                    name=str(options["name"]),
                    password=str(options["password"]),
                ),
                Registration,
            )
        except ValidationError as error:
            raise CommandError(f"invalid customer: {'; '.join(error.messages)}")
        customer = registered.customer
        verb = "added" if registered.created else "exists:"
        self.stdout.write(f"{verb} customer {customer.email} id {customer.id}")
