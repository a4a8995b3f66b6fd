"""Optimistic concurrency on a real PostgreSQL: many writers to one order lose no
command and leave no gap. Each thread has its own connection and closes it at its end
(or the test database's teardown waits for it).

This is the worst case for optimistic concurrency: eight writers on one stream, in one
process (the GIL serializes their Python work). The bus backs off with jitter between
attempts; ATTEMPTS is set far above the few attempts a command needs, so the test
checks that nothing is lost, not how lucky the scheduling was.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from uuid import uuid4

from django.db import connection, connections
from django.utils import timezone

import pytest

from events.commands import bus
from events.models import LogEntry
from events.store import repository
from orders.contracts import AddItem, Address, OrderItem, PlaceOrder, RemoveItem
from orders.domain import Order
from orders.models import AvailabilityView, CustomerView

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS, COMMANDS, ATTEMPTS = 8, 200, 200


def test_eight_writers_to_one_order_lose_no_command_and_leave_no_gap():
    # given an order of one MUG, and plenty of MUG in the availability view
    customer_id, order_id = uuid4(), uuid4()
    CustomerView.objects.create(customer_id=customer_id, email="a@b.c", name="A")
    AvailabilityView.objects.create(
        sku="MUG",
        name="Mug",
        price=Decimal("9.50"),
        currency="EUR",
        available=10_000,
        updated_at=timezone.now(),
    )
    bus.execute(
        PlaceOrder(
            order_id=order_id,
            customer_id=customer_id,
            items=(OrderItem(sku="MUG", quantity=1),),
            shipping_address=Address(
                name="A", line1="1 St", city="C", postal_code="1", country="FR"
            ),
            payment_method="card",
        )
    )
    succeeded = [0] * THREADS
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def writer(index: int) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '15s'")
            start.wait()
            for i in range(COMMANDS):
                # each thread adds before it removes, so the order never empties
                kind = AddItem if i % 2 == 0 else RemoveItem
                bus.execute(
                    kind(order_id=order_id, sku="MUG", quantity=1), attempts=ATTEMPTS
                )
                succeeded[index] += 1
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    # when eight threads each send 200 commands to it at once
    threads = [
        threading.Thread(target=writer, args=(n,), name=f"writer-{n}", daemon=True)
        for n in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not [t.name for t in threads if t.is_alive()], "writers still running"
    assert not errors, errors[0]
    # then every command succeeded (the bus retried the conflicts) ...
    assert sum(succeeded) == THREADS * COMMANDS
    # ... and the stream is 1..N without a gap, one event per command
    versions = list(
        LogEntry.objects.filter(stream=Order.stream_for(order_id))
        .order_by("stream_version")
        .values_list("stream_version", flat=True)
    )
    assert versions == list(range(1, 1 + THREADS * COMMANDS + 1))
    order = repository.load(Order, order_id)
    assert order.version == len(versions)
    assert order.state.lines[0].quantity == 1  # as many removed as added
    assert order.state == repository.load(Order, order_id, use_snapshots=False).state
