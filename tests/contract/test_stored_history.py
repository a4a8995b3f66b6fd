"""``manage.py events schemas check --stored``: every (type, version) stored in the
log, the parked dead letters and the snapshots of this database is read through the
current code and its upcasters. History written by older code (OrderPlaced v1, whose
lines had no currency) reads; a row that cannot be read fails the check, named. Runs on
SQLite and on PostgreSQL (the suite's second pass)."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO
from typing import Any
from uuid import uuid4

from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

import pytest

from events.log.outbox import publish
from events.models import DeadLetter, LogEntry, Snapshot
from orders.contracts import Address, OrderLine, OrderPlaced, OrderShipped
from orders.domain import Order

pytestmark = pytest.mark.django_db


def placed() -> OrderPlaced:
    return OrderPlaced(
        order_id=uuid4(),
        customer_id=uuid4(),
        lines=(
            OrderLine(
                sku="MUG", quantity=2, unit_price=Decimal("4.50"), currency="EUR"
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
        amount=Decimal("9.00"),
        currency="EUR",
    )


def as_v1(payload: dict[str, Any]) -> dict[str, Any]:
    """OrderPlaced as v1 wrote it: no amount or currency, lines without currency."""
    lines = [
        {k: v for k, v in line.items() if k != "currency"} for line in payload["lines"]
    ]
    rest = {k: v for k, v in payload.items() if k not in ("amount", "currency")}
    return {**rest, "lines": lines}


def store(*messages, version: int | None = None, rewrite=None) -> list[LogEntry]:
    """Publish messages, then make their rows look as older code wrote them."""
    with transaction.atomic():
        items = publish(*messages)
    rows = [LogEntry.objects.get(message_id=i.message_id) for i in items]
    for row in rows:
        if version is not None:
            row.version = version
        if rewrite is not None:
            row.payload = rewrite(row.payload)
        row.save()
    return rows


def park(row: LogEntry) -> DeadLetter:
    """A dead letter keeping a copy of ``row`` (as the delivery parks one)."""
    fields = {
        f: getattr(row, f)
        for f in (
            "message_id",
            "type",
            "version",
            "topic",
            "key",
            "partition",
            "offset",
            "recorded_at",
            "correlation_id",
            "causation_id",
            "headers",
            "payload",
            "stream",
            "stream_version",
        )
    }
    return DeadLetter.objects.create(
        subscription="notifications",
        error="SMTPServerDisconnected: mail server down",
        attempts=5,
        parked_at=timezone.now(),
        **fields,
    )


def snapshot(*, schema: int, state: dict[str, Any]) -> Snapshot:
    return Snapshot.objects.create(
        stream=f"order-{uuid4()}",
        version=50,
        aggregate="Order",
        schema=schema,
        state=state,
        taken_at=timezone.now(),
    )


def check_stored(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(
        "events", "schemas", "check", "--stored", *args, stdout=out, stderr=err
    )
    return out.getvalue(), err.getvalue()


@pytest.fixture
def history() -> dict[str, Any]:
    """A database with v1 and v2 OrderPlaced rows, a parked v1 dead letter, another
    type, a snapshot of the current schema and one of an older schema."""
    old = store(placed(), placed(), placed(), version=1, rewrite=as_v1)
    store(placed(), placed())
    store(OrderShipped(order_id=uuid4(), tracking_number="TRK-1"))
    park(old[0])
    state = Order(uuid4()).state.model_dump(mode="json")
    snapshot(schema=Order.snapshot_version, state=state)
    snapshot(schema=1, state={"shape": "of long ago"})
    return {"old": old}


def test_stored_old_versions_read_through_the_upcasters(history):
    # when the stored history is checked
    out, err = check_stored()
    # then every group reads, v1 through from_v1
    assert err == ""
    lines = out.splitlines()
    assert "log orders.OrderPlaced v1: 3 rows, 3 sampled, readable, read as v2" in lines
    assert "log orders.OrderPlaced v2: 2 rows, 2 sampled, readable" in lines
    assert "log orders.OrderShipped v1: 1 row, 1 sampled, readable" in lines
    assert (
        "dead letters orders.OrderPlaced v1: 1 row, 1 sampled, readable, read as v2"
        in lines
    )
    assert (
        f"snapshots Order schema {Order.snapshot_version}: 1 row, 1 sampled, readable"
        in lines
    )
    assert (
        "snapshots Order schema 1: 1 row, not read: loads use "
        f"schema {Order.snapshot_version} and fold the stream instead" in lines
    )
    assert lines[-1] == "stored history readable: 6 (type, version) groups in 9 rows"


def test_the_sample_bounds_the_rows_read_per_group(history):
    out, _ = check_stored("--sample", "2")
    assert "log orders.OrderPlaced v1: 3 rows, 2 sampled, readable, read as v2" in out


def _lines_lost(row: LogEntry) -> None:
    row.payload = {k: v for k, v in row.payload.items() if k != "lines"}
    row.save()


def _unknown_type(row: LogEntry) -> None:
    row.type = "orders.GiftWrapped"
    row.save()


def _newer_version(row: LogEntry) -> None:
    row.version = 3
    row.save()


def _parked_bad_payload(row: LogEntry) -> None:
    letter = park(row)
    letter.payload = {**letter.payload, "customer_id": "not-a-uuid"}
    letter.save()


def _broken_snapshot(row: LogEntry) -> None:
    snapshot(schema=Order.snapshot_version, state={"status": "teleported"})


UNREADABLE = {
    "an upcaster that raises": (
        _lines_lost,
        "log orders.OrderPlaced v1",
        "KeyError: 'lines'",
    ),
    "a type no code declares": (
        _unknown_type,
        "log orders.GiftWrapped v1",
        "UnknownMessageType: no message type is registered as 'orders.GiftWrapped'",
    ),
    "a version newer than the code": (
        _newer_version,
        "log orders.OrderPlaced v3",
        "MessageVersionError: orders.OrderPlaced v3 is newer than this code (v2)",
    ),
    "a parked dead letter the model refuses": (
        _parked_bad_payload,
        "dead letters orders.OrderPlaced v1",
        "ValidationError: 1 validation error for OrderPlaced customer_id",
    ),
    "a snapshot the state refuses": (
        _broken_snapshot,
        f"snapshots Order schema {Order.snapshot_version}",
        "ValidationError:",
    ),
}


@pytest.mark.parametrize("kind", sorted(UNREADABLE))
def test_one_unreadable_row_fails_the_check_and_is_named(history, kind):
    # given one row that today's code cannot read
    spoil, group, error = UNREADABLE[kind]
    row = LogEntry.objects.create(
        **{
            f.name: getattr(history["old"][1], f.name)
            for f in LogEntry._meta.concrete_fields
            if f.name not in ("id", "message_id", "offset")
        },
        message_id=uuid4(),
        offset=10_000,
    )
    spoil(row)
    # when the stored history is checked
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("events", "schemas", "check", "--stored", stdout=out, stderr=err)
    # then the check fails naming the group, and the row with its error
    message = str(failure.value)
    assert message.startswith("1 stored (type, version) cannot be read by this code: ")
    assert group in message
    (line,) = err.getvalue().splitlines()
    assert line.startswith(f"UNREADABLE {group}: 1 of ")
    assert error in line
    assert "e.g. row " in line
