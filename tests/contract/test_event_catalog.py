"""The admin's Event catalog (``/admin/events/catalog/``): staff see every message type
and version with its schema, producer, consumers, and live figures from the database
(messages in the log, consumer lag, parked dead letters); others are sent to log in."""

from __future__ import annotations

import re
from decimal import Decimal
from uuid import uuid4

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

import pytest

from events.log import reader
from events.log.outbox import publish
from events.models import Checkpoint, DeadLetter, LogEntry
from events.schemas import sources
from orders.contracts import Address, OrderLine, OrderPlaced

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Client:
    """A staff member with no particular permission (a developer, say)."""
    user = get_user_model().objects.create_user(
        "dev", "dev@example.com", "pw", is_staff=True
    )
    client = Client()
    client.force_login(user)
    return client


def placed() -> OrderPlaced:
    return OrderPlaced(
        order_id=uuid4(),
        customer_id=uuid4(),
        lines=(
            OrderLine(
                sku="MUG", quantity=1, unit_price=Decimal("4.50"), currency="EUR"
            ),
        ),
        shipping_address=Address(
            name="Ada",
            line1="1 Loop St",
            city="Lyon",
            postal_code="69001",
            country="FR",
        ),
        payment_method="pm_card_visa",
    )


@pytest.fixture
def traffic() -> None:
    """Three OrderPlaced in the log (one stored as v1), notifications caught up with
    all of them, and one parked for loyalty."""
    with transaction.atomic():
        items = publish(placed(), placed(), placed())
    LogEntry.objects.filter(message_id=items[0].message_id).update(version=1)
    for partition, head in reader.heads().items():
        Checkpoint.objects.create(
            subscription="notifications", partition=partition, position=head
        )
    row = LogEntry.objects.get(message_id=items[1].message_id)
    DeadLetter.objects.create(
        subscription="loyalty",
        message_id=row.message_id,
        type=row.type,
        version=row.version,
        topic=row.topic,
        key=row.key,
        partition=row.partition,
        offset=row.offset,
        recorded_at=row.recorded_at,
        correlation_id=row.correlation_id,
        payload=row.payload,
        error="RuntimeError: points ledger locked",
        attempts=5,
        parked_at=timezone.now(),
    )


def cells(html: str, row_id: str) -> list[str]:
    """The text of each cell of one table row."""
    row = re.search(rf'<tr id="{re.escape(row_id)}">(.*?)</tr>', html, re.S)
    assert row, f"no row {row_id}"
    found = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row.group(1), re.S)
    return [re.sub(r"<[^>]+>", "", c).strip() for c in found]


def test_staff_see_every_message_type_with_live_figures(staff, traffic):
    # when a staff member opens the catalog
    response = staff.get(reverse("events-catalog"))
    # then every declared type is listed, with what the database holds now
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('<tr id="message-') == len(sources.current().messages)
    assert cells(html, "message-orders.OrderPlaced") == [
        "orders.OrderPlaced",
        "event",
        "v2",
        "orders",
        "order_id",
        "orders",
        "loyalty, notifications, orders.fulfilment, orders.summary",
        "3",  # in the log (v1 and v2)
        "9",  # lag: loyalty, orders.fulfilment, orders.summary 3 each; notifications 0
        "1",  # parked dead letters
    ]
    assert cells(html, "message-payments.ChargePayment")[5] == "orders &rarr; payments"
    assert "In the log: 3 messages; lag 9; parked dead letters 1." in html


def test_a_message_page_shows_its_schema_producer_and_consumers(staff, traffic):
    response = staff.get(reverse("events-catalog-message", args=["orders.OrderPlaced"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "older versions upcast on read by from_v1" in html
    assert "3 messages; v1: 1; v2: 2" in html
    assert "1; loyalty: 1" in html  # parked dead letters, per subscription
    consumers = {
        row[0]: row
        for row in (
            cells(html, f"consumer-{name}")
            for name in (
                "loyalty",
                "notifications",
                "orders.fulfilment",
                "orders.summary",
            )
        )
    }
    assert consumers["notifications"] == [
        "notifications",
        "notifications",
        "handlers",
        "0",
        "",
    ]
    assert consumers["loyalty"] == ["loyalty", "loyalty", "handlers", "3", "1"]
    assert consumers["orders.fulfilment"][2:4] == ["saga", "3"]
    # the current schema, as exported from the model
    assert "Schema v2 (current)" in html
    assert "&quot;shipping_address&quot;: {" in html
    assert "&quot;$ref&quot;: &quot;#/$defs/Address&quot;" in html


def test_a_command_page_says_who_sends_and_who_accepts_it(staff):
    html = staff.get(
        reverse("events-catalog-message", args=["inventory.ReserveInventory"])
    ).content.decode()
    assert re.search(r"Sent by</th><td>orders</td>", html)
    assert re.search(r"Accepted by</th><td>inventory</td>", html)
    in_process = staff.get(
        reverse("events-catalog-message", args=["orders.PlaceOrder"])
    ).content.decode()
    assert "run in process by the bus (never on the log)" in in_process


def test_an_unknown_type_is_not_found(staff):
    response = staff.get(reverse("events-catalog-message", args=["orders.Nothing"]))
    assert response.status_code == 404


def test_stored_types_no_code_declares_are_listed_apart(staff, traffic):
    LogEntry.objects.filter(version=1).update(type="orders.GiftWrapped")
    html = staff.get(reverse("events-catalog")).content.decode()
    assert "In the log, declared by no code" in html
    assert "<tr><td>orders.GiftWrapped</td><td>v1</td><td>1</td></tr>" in html


def test_the_platform_page_links_to_the_catalog():
    # given staff allowed to see the log (the platform's page lists what they may see)
    user = get_user_model().objects.create_user("ops", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(
            codename="view_logentry", content_type__app_label="events"
        )
    )
    client = Client()
    client.force_login(user)
    # when they open the Event platform page, then it links to the catalog
    html = client.get(reverse("admin:app_list", args=["events"])).content.decode()
    assert f'<a href="{reverse("events-catalog")}">Event catalog</a>' in html


@pytest.mark.parametrize("who", ["anonymous", "customer"])
def test_others_are_sent_to_the_login_page(who):
    client = Client()
    if who == "customer":
        client.force_login(
            get_user_model().objects.create_user("c", "c@example.com", "pw")
        )
    response = client.get(reverse("events-catalog"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
