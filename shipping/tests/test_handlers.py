"""The shipment commands delivered to the real ``shipping`` subscription, and staff
dispatch from the CLI and the admin. Drains are called directly, so every step is
deterministic. Runs on SQLite and, in the PostgreSQL pass, on PostgreSQL."""

import subprocess
import sys
from pathlib import Path
from uuid import uuid4

from django.core.management import CommandError, call_command
from django.db import transaction
from django.urls import reverse

import pytest

from events.delivery.drain import drain
from events.delivery.subscriptions import registry
from events.log.outbox import publish
from events.log.partitions import partition_for
from events.models import Checkpoint, DeadLetter, LogEntry
from events.ops import replay
from events.store import streams
from orders.contracts import (
    Address,
    OrderCancelled,
    OrderConfirmed,
    OrderLine,
    OrderPlaced,
)
from shipping.contracts import (
    CancelShipment,
    CreateShipment,
    DispatchShipment,
    ShippingAddress,
)
from shipping.models import Shipment, tracking_number

pytestmark = pytest.mark.django_db(transaction=True)
COMMANDS = ["CreateShipment", "CancelShipment", "DispatchShipment"]


def create(order_id, city="Paris"):
    """CreateShipment as the saga sends it: with the order's address."""
    return CreateShipment(
        order_id=order_id,
        shipping_address=ShippingAddress(
            name="Ann", line1="1 Main St", city=city, postal_code="1", country="FR"
        ),
    )


@pytest.fixture
def shipping():
    return registry.get("shipping")


def send(subscription, command):
    """Publish ``command`` in its own transaction, then deliver its partition."""
    with transaction.atomic():
        (item,) = publish(command)
    drain(subscription, item.partition)
    return item


def answers(order_id):
    """(name, payload without order_id) of what shipping published, in order."""
    rows = LogEntry.objects.filter(key=str(order_id), type__startswith="shipping.")
    rows = rows.exclude(type__in=[f"shipping.{c}" for c in COMMANDS]).order_by("id")
    return [
        (
            r.type.removeprefix("shipping."),
            {k: v for k, v in r.payload.items() if k != "order_id"},
        )
        for r in rows
    ]


def order(*, cancelled=False):
    """An order's stream as the orders app leaves it once confirmed (or cancelled):
    staff dispatch asks the order first (StartDispatch)."""
    order_id = uuid4()
    placed = OrderPlaced(
        order_id=order_id,
        customer_id=uuid4(),
        lines=(OrderLine(sku="MUG", quantity=1, unit_price="9.50", currency="EUR"),),
        shipping_address=Address(
            name="Ann", line1="1 Main St", city="Paris", postal_code="1", country="FR"
        ),
        payment_method="pm_card_visa",
    )
    last = (
        OrderCancelled(order_id=order_id, reason="changed my mind")
        if cancelled
        else OrderConfirmed(order_id=order_id)
    )
    with transaction.atomic():
        streams.append(f"order-{order_id}", [placed, last], expected_version=0)
    return order_id


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def commands_sent(order_id):
    rows = LogEntry.objects.filter(key=str(order_id), type="shipping.DispatchShipment")
    return rows.count()


def test_a_shipment_is_created_with_a_tracking_number_from_the_order(shipping):
    order = uuid4()
    send(shipping, create(order, city="Lyon"))
    shipment = Shipment.objects.get(order_id=order)
    assert shipment.tracking_number == tracking_number(order)
    assert len(shipment.tracking_number) == 13 and shipment.tracking_number.isupper()
    assert (shipment.status, shipment.city) == ("created", "Lyon")
    assert answers(order) == [
        ("ShipmentCreated", {"tracking_number": shipment.tracking_number})
    ]


def test_creating_twice_and_a_replay_make_one_shipment_and_the_same_answer(shipping):
    order = uuid4()
    item = send(shipping, create(order))
    send(shipping, create(order))
    replay.seek(shipping, to_offset=item.offset, partitions=[item.partition])
    drain(shipping, item.partition)
    assert Shipment.objects.count() == 1
    number = tracking_number(order)
    # two creates, then both replayed: four identical answers
    assert answers(order) == [("ShipmentCreated", {"tracking_number": number})] * 4


def test_cancel_then_a_late_create_is_rejected(shipping):
    order = uuid4()
    send(shipping, create(order))
    send(shipping, CancelShipment(order_id=order))
    send(shipping, CancelShipment(order_id=order))
    send(shipping, create(order))
    assert Shipment.objects.get().status == "cancelled"
    assert [name for name, _ in answers(order)] == [
        "ShipmentCreated",
        "ShipmentCancelled",
        "ShipmentCancelled",
        "ShipmentRejected",
    ]


def test_cancelling_an_order_with_no_shipment_confirms_and_blocks_a_late_create(
    shipping,
):
    order = uuid4()
    send(shipping, CancelShipment(order_id=order))
    send(shipping, create(order))
    assert [name for name, _ in answers(order)] == [
        "ShipmentCancelled",
        "ShipmentRejected",
    ]


def test_dispatch_command_dispatches_and_a_dispatched_shipment_is_not_cancelled(
    shipping,
):
    order = uuid4()
    send(shipping, create(order))
    send(shipping, DispatchShipment(order_id=order))
    send(shipping, DispatchShipment(order_id=order))
    send(shipping, CancelShipment(order_id=order))
    assert Shipment.objects.get().status == "dispatched"
    number = tracking_number(order)
    assert answers(order) == [
        ("ShipmentCreated", {"tracking_number": number}),
        ("ShipmentDispatched", {"tracking_number": number}),
        ("ShipmentDispatched", {"tracking_number": number}),
    ]


def test_dispatching_an_unknown_shipment_ends_in_the_dead_letters(shipping):
    order = uuid4()
    item = send(shipping, DispatchShipment(order_id=order))
    for _ in range(shipping.max_attempts - 1):
        Checkpoint.objects.update(retry_at=None)
        drain(shipping, item.partition)
    assert "NotDispatchableError" in DeadLetter.objects.get().error


def test_the_management_command_sends_dispatch(shipping):
    placed = order()
    send(shipping, create(placed))
    # when
    call_command("shipping", "dispatch", str(placed))
    drain(shipping, partition_for(str(placed)))
    # then
    assert Shipment.objects.get().status == "dispatched"
    assert commands_sent(placed) == 1


@pytest.mark.parametrize("argument", ["not-a-uuid", "unknown"])
def test_the_management_command_refuses_unknown_orders(shipping, argument):
    order = str(uuid4()) if argument == "unknown" else argument
    with pytest.raises(CommandError, match="no shipment|UUID"):
        call_command("shipping", "dispatch", order)
    assert not LogEntry.objects.filter(type="shipping.DispatchShipment").exists()


def test_the_management_command_exits_non_zero_for_a_bad_order_id():
    done = subprocess.run(
        [sys.executable, "manage.py", "shipping", "dispatch", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode != 0 and "must be a UUID" in done.stderr


def test_the_admin_action_sends_dispatch_and_saves_nothing(shipping, admin_client):
    orders = [order(), order()]
    for placed in orders:
        send(shipping, create(placed))
    url = reverse("admin:shipping_shipment_changelist")
    assert admin_client.get(url).status_code == 200
    ids = [s.pk for s in Shipment.objects.all()]
    # when
    response = admin_client.post(
        url, {"action": "dispatch", "_selected_action": ids}, follow=True
    )
    # then the commands are in the log, the shipments unchanged until delivered
    assert messages_of(response) == ["dispatch requested for 2 shipment(s)"]
    assert set(Shipment.objects.values_list("status", flat=True)) == {"created"}
    for placed in orders:
        assert commands_sent(placed) == 1
        drain(shipping, partition_for(str(placed)))
    assert set(Shipment.objects.values_list("status", flat=True)) == {"dispatched"}


def test_the_admin_action_refuses_a_cancelled_shipment(shipping, admin_client):
    order = uuid4()
    send(shipping, CancelShipment(order_id=order))
    url = reverse("admin:shipping_shipment_changelist")
    response = admin_client.post(
        url,
        {"action": "dispatch", "_selected_action": [Shipment.objects.get().pk]},
        follow=True,
    )
    (message,) = messages_of(response)
    assert message.endswith("is cancelled")
    assert commands_sent(order) == 0


def test_dispatching_a_cancelled_order_is_refused_and_sends_nothing(shipping):
    # given a shipment whose order the customer cancelled (the saga's CancelShipment
    # not delivered yet)
    cancelled = order(cancelled=True)
    send(shipping, create(cancelled))
    # when staff dispatch it
    with pytest.raises(CommandError, match="it is cancelled"):
        call_command("shipping", "dispatch", str(cancelled))
    # then nothing was sent
    assert commands_sent(cancelled) == 0
