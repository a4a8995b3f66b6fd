"""Registering customers; publishes CustomerRegistered with the new row."""

from django.db import transaction

from events.outbox import publish

from .contracts import CustomerRegistered
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
