"""The reservation commands, delivered to the real ``inventory`` subscription: all or
nothing, idempotent per order, exactly one effect per message, and StockChanged for
every change of availability. Drains are called directly, so every step is
deterministic. Runs on SQLite and, in the PostgreSQL pass, on PostgreSQL."""

from decimal import Decimal
from uuid import uuid4

from django.core.exceptions import ValidationError
from django.db import transaction

import pytest

from events import bus
from events.delivery.drain import drain
from events.delivery.subscriptions import registry
from events.log.outbox import publish
from events.models import Checkpoint, DeadLetter, LogEntry
from inventory.contracts import (
    CommitInventory,
    PutProduct,
    ReleaseInventory,
    ReserveInventory,
    StockLine,
)
from inventory.models import Hold, Product

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def inventory():
    return registry.get("inventory")


@pytest.fixture
def shelf():
    bus.execute(PutProduct(sku="MUG", name="Mug", price=Decimal("12.50"), stock=5))
    bus.execute(PutProduct(sku="TEE", name="Tee", price=Decimal("20.00"), stock=2))


def send(subscription, command):
    """Publish ``command`` in its own transaction, then deliver its partition."""
    with transaction.atomic():
        (item,) = publish(command)
    drain(subscription, item.partition)
    return item


def reserve(order_id, **quantities):
    lines = tuple(StockLine(sku=sku, quantity=q) for sku, q in quantities.items())
    return ReserveInventory(order_id=order_id, lines=lines)


def answers(order_id):
    """(type, payload) of what inventory published about ``order_id``, in order."""
    rows = LogEntry.objects.filter(key=str(order_id), topic="inventory").exclude(
        type__in=[
            "inventory.ReserveInventory",
            "inventory.ReleaseInventory",
            "inventory.CommitInventory",
        ]
    )
    return [(r.type.removeprefix("inventory."), r.payload) for r in rows.order_by("id")]


def stock():
    return {p.sku: (p.on_hand, p.reserved) for p in Product.objects.all()}


def availability_announced():
    """The ``available`` of each StockChanged, per SKU, in order."""
    announced: dict[str, list[int]] = {}
    for row in LogEntry.objects.filter(type="inventory.StockChanged").order_by("id"):
        announced.setdefault(row.key, []).append(row.payload["available"])
    return announced


def test_reservation_holds_every_line_and_announces_availability(inventory, shelf):
    # given
    order = uuid4()
    # when
    send(inventory, reserve(order, TEE=2, MUG=3))
    # then
    assert stock() == {"MUG": (5, 3), "TEE": (2, 2)}
    assert answers(order) == [
        (
            "InventoryReserved",
            {
                "order_id": str(order),
                "lines": [{"sku": "MUG", "quantity": 3}, {"sku": "TEE", "quantity": 2}],
            },
        )
    ]
    assert sorted(
        Hold.objects.filter(order_id=order).values_list("sku", "quantity", "status")
    ) == [("MUG", 3, "held"), ("TEE", 2, "held")]
    assert availability_announced() == {"MUG": [5, 2], "TEE": [2, 0]}


def test_a_short_line_holds_nothing_and_names_the_sku(inventory, shelf):
    # given
    order = uuid4()
    # when one line of three is short, and one SKU does not exist
    send(inventory, reserve(order, MUG=1, TEE=3, NOPE=1))
    # then nothing is held, nothing announced, and the short lines are named
    assert stock() == {"MUG": (5, 0), "TEE": (2, 0)}
    assert not Hold.objects.exists()
    assert answers(order) == [
        (
            "InventoryShort",
            {
                "order_id": str(order),
                "shortages": [
                    {"sku": "NOPE", "wanted": 1, "available": 0},
                    {"sku": "TEE", "wanted": 3, "available": 2},
                ],
            },
        )
    ]
    assert availability_announced() == {"MUG": [5], "TEE": [2]}


def test_held_stock_is_not_available_to_the_next_order(inventory, shelf):
    first, second = uuid4(), uuid4()
    send(inventory, reserve(first, TEE=2))
    send(inventory, reserve(second, TEE=1))
    assert answers(second)[0][0] == "InventoryShort"
    assert answers(second)[0][1]["shortages"] == [
        {"sku": "TEE", "wanted": 1, "available": 0}
    ]


def test_a_sku_on_two_lines_is_held_for_their_sum(inventory, shelf):
    order = uuid4()
    line = StockLine(sku="TEE", quantity=2)
    send(inventory, ReserveInventory(order_id=order, lines=(line, line)))
    assert answers(order)[0][1]["shortages"][0]["wanted"] == 4
    assert stock()["TEE"] == (2, 0)


def test_release_puts_stock_back_and_releasing_again_changes_nothing(inventory, shelf):
    # given a held reservation
    order = uuid4()
    send(inventory, reserve(order, MUG=3, TEE=1))
    # when it is released twice
    send(inventory, ReleaseInventory(order_id=order))
    send(inventory, ReleaseInventory(order_id=order))
    # then the stock is back once, each release is answered, the second with nothing
    assert stock() == {"MUG": (5, 0), "TEE": (2, 0)}
    assert set(Hold.objects.values_list("status", flat=True)) == {"released"}
    released = [payload["lines"] for kind, payload in answers(order)[1:]]
    assert [kind for kind, _ in answers(order)] == [
        "InventoryReserved",
        "InventoryReleased",
        "InventoryReleased",
    ]
    assert released == [
        [{"sku": "MUG", "quantity": 3}, {"sku": "TEE", "quantity": 1}],
        [],
    ]
    assert availability_announced() == {"MUG": [5, 2, 5], "TEE": [2, 1, 2]}


def test_release_of_an_order_that_holds_nothing_is_answered(inventory, shelf):
    order = uuid4()
    send(inventory, ReleaseInventory(order_id=order))
    assert answers(order) == [
        ("InventoryReleased", {"order_id": str(order), "lines": []})
    ]
    assert stock() == {"MUG": (5, 0), "TEE": (2, 0)}


def test_commit_takes_held_stock_off_the_shelf_for_good(inventory, shelf):
    # given
    order = uuid4()
    send(inventory, reserve(order, MUG=3))
    # when
    send(inventory, CommitInventory(order_id=order))
    send(inventory, CommitInventory(order_id=order))  # sent again: no second effect
    send(inventory, ReleaseInventory(order_id=order))  # too late: nothing to release
    # then on hand dropped once, availability did not move on commit
    assert stock() == {"MUG": (2, 0), "TEE": (2, 0)}
    assert set(Hold.objects.values_list("status", flat=True)) == {"committed"}
    assert [kind for kind, _ in answers(order)] == [
        "InventoryReserved",
        "InventoryCommitted",
        "InventoryCommitted",
        "InventoryReleased",
    ]
    assert answers(order)[2][1]["lines"] == [{"sku": "MUG", "quantity": 3}]
    assert answers(order)[3][1]["lines"] == []
    assert availability_announced()["MUG"] == [5, 2]


def test_commit_with_nothing_held_is_parked_as_a_dead_letter(inventory, shelf):
    order = uuid4()
    item = send(inventory, CommitInventory(order_id=order))
    for _ in range(inventory.max_attempts - 1):
        Checkpoint.objects.update(retry_at=None)
        drain(inventory, item.partition)
    assert "NothingHeldError" in DeadLetter.objects.get(subscription="inventory").error
    assert answers(order) == []


def test_redelivered_reservation_holds_stock_once(inventory, shelf):
    # given a handled reservation
    order = uuid4()
    item = send(inventory, reserve(order, MUG=2))
    # when the same message is delivered again (checkpoint lost, inbox kept)
    Checkpoint.objects.filter(partition=item.partition).update(position=0)
    drain(inventory, item.partition)
    # then it had one effect and one answer
    assert stock()["MUG"] == (5, 2)
    assert [kind for kind, _ in answers(order)] == ["InventoryReserved"]
    assert availability_announced()["MUG"] == [5, 3]


def test_a_second_reserve_for_a_held_order_answers_again_without_holding(
    inventory, shelf
):
    # given
    order = uuid4()
    send(inventory, reserve(order, MUG=2))
    # when the saga asks again (a new message for the same order)
    send(inventory, reserve(order, MUG=2))
    # then stock is held once and the answer is repeated
    assert stock()["MUG"] == (5, 2)
    assert [payload for _, payload in answers(order)] == [
        {"order_id": str(order), "lines": [{"sku": "MUG", "quantity": 2}]}
    ] * 2
    assert Hold.objects.count() == 1
    assert availability_announced()["MUG"] == [5, 3]


def test_a_late_reserve_after_release_holds_nothing(inventory, shelf):
    order = uuid4()
    send(inventory, reserve(order, MUG=2))
    send(inventory, ReleaseInventory(order_id=order))
    send(inventory, reserve(order, MUG=2))
    assert stock()["MUG"] == (5, 0)
    assert answers(order)[-1] == (
        "InventoryReleased",
        {"order_id": str(order), "lines": []},
    )


def test_catalog_stock_below_what_is_held_is_refused(inventory, shelf):
    # given
    send(inventory, reserve(uuid4(), MUG=3))
    # when, then
    with pytest.raises(ValidationError, match="below the 3 units held"):
        bus.execute(PutProduct(sku="MUG", name="Mug", price=Decimal("12.50"), stock=2))
    bus.execute(PutProduct(sku="MUG", name="Mug", price=Decimal("12.50"), stock=4))
    assert stock()["MUG"] == (4, 3)
    assert availability_announced()["MUG"] == [5, 2, 1]
