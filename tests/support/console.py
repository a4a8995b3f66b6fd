"""Helpers of the staff console's tests (orders' investigator, the platform's pages,
the project's composed pages): a shop with a catalogue and a customer, orders placed
through the bus, and waits on conditions (bounded, never a bare sleep).

A test module imports the fixture it uses (``from tests.support.console import
console_shop_fixture``); it is registered as ``console_shop``."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from django.core.management import call_command

import pytest

from events.commands import bus
from events.models import SagaInstance
from orders import queries
from orders.contracts import Address, OrderItem, PlaceOrder
from orders.models import AvailabilityView, CustomerView
from processes.waiting import wait_until

EMAIL = "ann@example.com"
ADDRESS = Address(
    name="Ann", line1="1 Main St", city="Paris", postal_code="75001", country="FR"
)
SETTLED = {"completed", "compensated", "needs_attention"}


@pytest.fixture(name="console_shop")
def console_shop_fixture(dispatcher: object) -> UUID:
    """A running shop (in-process dispatcher) with a mug in stock and Ann, a
    customer; returns Ann's customer id."""
    call_command(
        "catalog", "add", "MUG", "--name", "Mug", "--price", "9.50", "--stock", "50"
    )
    call_command(
        "customers", "add", EMAIL, "--name", "Ann", "--password", "pw-of-ann-9"
    )
    wait_until(lambda: AvailabilityView.objects.exists(), "the availability view")
    wait_until(lambda: CustomerView.objects.exists(), "the customer view")
    return CustomerView.objects.get(email=EMAIL).customer_id


def place(
    customer_id: UUID, quantity: int = 2, *, payment_method: str = "pm_card_visa"
) -> UUID:
    order_id = uuid4()
    bus.execute(
        PlaceOrder(
            order_id=order_id,
            customer_id=customer_id,
            items=(OrderItem(sku="MUG", quantity=quantity),),
            shipping_address=ADDRESS,
            payment_method=payment_method,
        )
    )
    return order_id


def saga_of(order_id: UUID) -> SagaInstance | None:
    return SagaInstance.objects.filter(key=str(order_id)).first()


def summary_of(order_id: UUID) -> dict[str, Any]:
    """The order's row in the list; the test fails when there is none."""
    summary = queries.order_summary(order_id)
    assert summary is not None, f"order {order_id} is not in the list"
    return summary


def settled(order_id: UUID) -> bool:
    """The order's saga ended (or needs a person) and the list shows the outcome."""
    saga = saga_of(order_id)
    summary = queries.order_summary(order_id)
    return bool(
        saga is not None
        and saga.status in SETTLED
        and summary is not None
        and summary["status"] in {"confirmed", "rejected", "cancelled"}
        and queries.wait_until_current(order_id, timeout=5)
    )
