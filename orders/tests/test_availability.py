"""The availability view follows inventory's stock changes, through the dispatcher."""

from django.core.management import call_command
from django.db import transaction

import pytest

from customers.contracts import CustomerUpdated
from events.delivery.waiting import wait_for_messages
from events.log.outbox import publish
from events.models import LogEntry
from orders.models import AvailabilityView, CustomerView


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
    # given a registered customer whom staff then deactivate
    call_command(
        "customers", "add", "A@Example.com", "--name", "Ann", "--password", "pw-of-ann"
    )
    registered = LogEntry.objects.get(type="customers.CustomerRegistered")
    with transaction.atomic():
        publish(
            CustomerUpdated(
                customer_id=registered.key,
                email="a@example.com",
                name="Ann",
                is_active=False,
            )
        )
    # then the orders' view knows them, inactive
    wait_for_messages(
        "orders.customers", [e.envelope() for e in LogEntry.objects.all()]
    )
    view = CustomerView.objects.get()
    assert (view.email, view.is_active) == ("a@example.com", False)
