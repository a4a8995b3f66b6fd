"""The availability view follows inventory's stock changes, through the dispatcher."""

from django.core.management import call_command

import pytest

from events.models import LogEntry
from events.waiting import wait_for_messages
from orders.models import AvailabilityView


@pytest.mark.django_db(transaction=True)
def test_catalog_changes_reach_the_availability_view(dispatcher):
    # when stock is set twice for one SKU and once for another
    call_command(
        "catalog", "add", "A", "--name", "a", "--price", "1.00", "--stock", "5"
    )
    call_command(
        "catalog", "add", "A", "--name", "a", "--price", "1.50", "--stock", "2"
    )
    call_command(
        "catalog", "add", "B", "--name", "b", "--price", "9.00", "--stock", "1"
    )
    # then the view shows the latest state of each
    wait_for_messages(
        "orders.availability", [e.envelope() for e in LogEntry.objects.all()]
    )
    assert list(AvailabilityView.objects.values_list("sku", "available")) == [
        ("A", 2),
        ("B", 1),
    ]


@pytest.mark.django_db(transaction=True)
def test_customer_changes_reach_the_customer_view(dispatcher):
    from customers.models import Customer
    from customers.registration import ensure_customer, update_customer
    from orders.models import CustomerView

    # given a registered customer whom staff then deactivate
    customer, _ = ensure_customer(email="A@Example.com", name="Ann", password="pw")
    customer = Customer.objects.get(id=customer.id)
    customer.is_active = False
    update_customer(customer)
    # then the orders' view knows them, inactive
    wait_for_messages(
        "orders.customers", [e.envelope() for e in LogEntry.objects.all()]
    )
    view = CustomerView.objects.get()
    assert (view.email, view.is_active) == ("a@example.com", False)
