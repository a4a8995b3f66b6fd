"""The commands customers accepts, run by ``events.bus`` in one unit of work each: the
row changes and their announcement commit together.

Every new account's password passes the project's password rules
(``AUTH_PASSWORD_VALIDATORS``) here, so the API's registration and ``manage.py
customers add`` refuse the same passwords with the same reasons."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from events import command_handler, publish

from .contracts import (
    CustomerRegistered,
    CustomerUpdated,
    RegisterCustomer,
    UpdateCustomer,
)
from .models import Customer


@dataclass(frozen=True)
class Registration:
    customer: Customer
    created: bool  # False: a customer with the email existed and was left as it was


@command_handler(RegisterCustomer)
def register_customer(command: RegisterCustomer) -> Registration:
    """The customer with this email, created (and announced) if missing. Raises
    django's ValidationError (by field: ``email``, ``name``, ``password``) for a new
    customer whose details or password break the rules (an existing one is returned
    as it is), IntegrityError when another request creates the same email at the same
    moment."""
    email = command.email.strip().lower()
    existing = Customer.objects.filter(email=email).first()
    if existing is not None:
        return Registration(existing, created=False)
    customer = Customer(email=email, name=command.name)
    password = command.password.get_secret_value()
    try:
        # the validators read a user's attributes (email, name): a customer has them
        validate_password(password, user=customer)  # type: ignore[arg-type]
    except ValidationError as refused:
        raise ValidationError({"password": refused.error_list}) from None
    customer.set_password(password)
    customer.full_clean()
    customer.save()
    publish(CustomerRegistered(customer_id=customer.id, email=email, name=command.name))
    return Registration(customer, created=True)


@command_handler(UpdateCustomer)
def update_customer(command: UpdateCustomer) -> Customer:
    """Save staff's changes to a customer and announce them."""
    customer = Customer.objects.select_for_update().get(id=command.customer_id)
    customer.email, customer.name = command.email, command.name
    customer.is_active = command.is_active
    customer.full_clean()
    customer.save()
    publish(
        CustomerUpdated(
            customer_id=customer.id,
            email=customer.email,
            name=customer.name,
            is_active=customer.is_active,
        )
    )
    return customer
