"""Registration through the API: like ``RegisterCustomer``, but an email that is taken
is an error (the storefront must say so) rather than a match."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError

from events import DomainError, bus

from .commands import Registration
from .contracts import RegisterCustomer
from .models import Customer


class EmailTakenError(DomainError):
    def __init__(self, email: str) -> None:
        super().__init__(f"a customer with the email {email} already exists")
        self.email = email


def register(*, email: str, name: str, password: str) -> Customer:
    """Create (and announce) a customer. Raises EmailTakenError, also when another
    request registers the same email at the same moment (the unique index decides),
    and django's ValidationError for an invalid email or name."""
    try:
        registered = bus.outcome(
            RegisterCustomer(email=email, name=name, password=password), Registration
        )
        customer, created = registered.customer, registered.created
    except IntegrityError:
        created = False  # the other request committed between our check and insert
    except ValidationError as error:
        codes = getattr(error, "error_dict", {}).get("email", [])
        if not any(e.code == "unique" for e in codes):
            raise
        created = False  # the other request committed before our full_clean
    if not created:
        raise EmailTakenError(email.strip().lower())
    return customer
