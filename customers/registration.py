"""Registering customers; publishes CustomerRegistered with the new row."""

from django.db import transaction

from events.outbox import publish

from .contracts import CustomerRegistered, CustomerUpdated
from .models import Customer


def ensure_customer(*, email: str, name: str, password: str) -> tuple[Customer, bool]:
    """The customer with this email, created (and announced) if missing."""
    email = email.strip().lower()
    with transaction.atomic():
        existing = Customer.objects.filter(email=email).first()
        if existing is not None:
            return existing, False
        customer = Customer(email=email, name=name)
        customer.set_password(password)
        customer.full_clean()
        customer.save()
        publish(CustomerRegistered(customer_id=customer.id, email=email, name=name))
    return customer, True


def update_customer(customer: Customer) -> None:
    """Save staff's changes to a customer and announce them, in one transaction."""
    with transaction.atomic():
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
