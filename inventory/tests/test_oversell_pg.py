"""No overselling on a real PostgreSQL: many orders race for the last unit.

Fifty threads each publish a ReserveInventory for their own order at once, then
several threads drain every partition concurrently (as several workers would), while
the test watches the product row. Every thread has its own connection, a
``lock_timeout`` so a bug shows as an error rather than a hang, and closes its
connection at its end."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from uuid import uuid4

from django.conf import settings
from django.db import connection, connections, transaction

import pytest

from events import bus
from events.delivery.drain import drain
from events.delivery.subscriptions import registry
from events.delivery.waiting import wait_for_messages
from events.log.outbox import publish
from events.models import DeadLetter, LogEntry
from inventory.contracts import PutProduct, ReserveInventory, StockLine
from inventory.models import Hold, Product

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ORDERS = 50
DRAINERS = 6


def run_threads(fn: Callable[[int], Any], count: int) -> list[Any]:
    """Run ``fn(i)`` in ``count`` threads released together; return their results,
    re-raising the first error."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '15s'")
            start.wait(10)
            results[i] = fn(i)
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "threads still running"
    if errors:
        raise errors[0]
    return results


def test_fifty_orders_racing_for_the_last_unit_reserve_it_once():
    # given one unit on the shelf
    inventory = registry.get("inventory")
    bus.execute(PutProduct(sku="LAST", name="Last one", price=Decimal("9.99"), stock=1))
    orders = [uuid4() for _ in range(ORDERS)]

    # when fifty orders ask for it at once
    def place(i: int):
        line = StockLine(sku="LAST", quantity=1)
        with transaction.atomic():
            (item,) = publish(ReserveInventory(order_id=orders[i], lines=(line,)))
        return item

    commands = run_threads(place, ORDERS)

    # and several workers drain every partition concurrently, while the row is watched
    seen: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        try:
            while not stop.is_set():
                seen.append(Product.objects.get(sku="LAST").available)
        finally:
            connections.close_all()

    watcher = threading.Thread(target=watch)
    watcher.start()
    partitions = range(settings.EVENTS_PARTITIONS)

    def drain_all(i: int) -> int:
        order = [*partitions[i % len(partitions) :], *partitions[: i % len(partitions)]]
        return sum(drain(inventory, p).handled for p in order)

    try:
        run_threads(drain_all, DRAINERS)
        wait_for_messages("inventory", commands, timeout=30)
    finally:
        stop.set()
        watcher.join(10)

    # then exactly one order holds the unit and the other 49 are told it is short
    answers = Counter(
        LogEntry.objects.filter(
            type__in=["inventory.InventoryReserved", "inventory.InventoryShort"]
        ).values_list("type", flat=True)
    )
    assert answers == {
        "inventory.InventoryReserved": 1,
        "inventory.InventoryShort": ORDERS - 1,
    }
    answered = LogEntry.objects.filter(
        type__in=["inventory.InventoryReserved", "inventory.InventoryShort"]
    ).values_list("key", flat=True)
    assert sorted(answered) == sorted(str(o) for o in orders)
    (hold,) = Hold.objects.all()
    assert (hold.sku, hold.quantity, hold.status) == ("LAST", 1, "held")
    product = Product.objects.get(sku="LAST")
    assert (product.on_hand, product.reserved) == (1, 1)
    # and availability never went below zero, no message failed
    assert seen and min(seen) >= 0
    assert not DeadLetter.objects.exists()
