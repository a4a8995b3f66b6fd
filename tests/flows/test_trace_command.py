"""``manage.py events trace`` on real orders (the in-process shop of the console's
tests): a confirmed order's messages, saga steps and transitions with what each reader
did; a declined card's rejection; a charge parked as a dead letter; messages a paused
subscription has not handled; the same tree as JSON and as a Mermaid flowchart; and a
real ``manage.py`` process giving the same answer and the same errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from uuid import UUID, uuid4

from django.core.management import CommandError, call_command
from django.db import connection

import pytest

from events import bus, correlation_scope, trace
from events.delivery.subscriptions import registry
from events.models import DeadLetter, LogEntry
from orders.contracts import CancelOrder
from processes.celery_worker import database_url
from tests.support.console import (
    console_shop_fixture,  # noqa: F401
    place,
    settled,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
MESSAGE = re.compile(
    r"^(?P<indent>(  )*)- (?P<type>\S+)  p\d+@\d+  \S+ \S+  .*"
    r"message (?P<id>[0-9a-f-]{36})"
)
RECEIPT = re.compile(r"^ +(?P<state>[a-z]+) +(?P<who>\S+) +(?P<said>.+)$")


@dataclass
class Line:
    """A message as the text shows it: its depth, type, id, the message it is
    under, and its receipts as (state, subscription, what was said)."""

    depth: int
    type: str
    id: UUID
    parent: Line | None
    receipts: list[tuple[str, str, str]] = field(default_factory=list)


def events_trace(*args: str) -> str:
    out = StringIO()
    call_command("events", "trace", *args, stdout=out)
    return out.getvalue()


def parse(text: str) -> list[Line]:
    """The text's tree, line by line (each line must be a message or a receipt)."""
    head, *rest = text.splitlines()
    assert head.startswith("trace of ")
    lines: list[Line] = []
    path: list[Line] = []
    for row in rest:
        if found := MESSAGE.match(row):
            depth = len(found["indent"]) // 2
            del path[depth:]
            line = Line(
                depth, found["type"], UUID(found["id"]), path[-1] if path else None
            )
            lines.append(line)
            path.append(line)
        elif row.strip() == "no reader":
            assert not lines[-1].receipts
        else:
            receipt = RECEIPT.match(row)
            assert receipt, row
            lines[-1].receipts.append(
                (receipt["state"], receipt["who"], receipt["said"])
            )
    return lines


def one(lines: list[Line], type_name: str) -> Line:
    (found,) = [line for line in lines if line.type == type_name]
    return found


def parent_of(line: Line) -> Line:
    assert line.parent is not None, f"{line.type} has no cause"
    return line.parent


def notes(lines: list[Line]) -> list[str]:
    """The saga's transitions, in the order written, as the text says them."""
    found = [
        (line, said)
        for line in lines
        for state, who, said in line.receipts
        if state == "transition" and who == "orders.fulfilment"
    ]
    assert all(line.type.startswith("sagas.") for line, _ in found)
    return [said for _, said in sorted(found, key=lambda f: _position(f[0].id))]


def _position(message_id: UUID) -> tuple:
    row = LogEntry.objects.get(message_id=message_id)
    return (row.recorded_at, row.partition, row.offset)


def caught_up(order_id: UUID) -> bool:
    """Settled, and no reader has any of its messages left to handle."""
    return settled(order_id) and all(
        r.state != "pending"
        for _, node in trace(str(order_id)).nodes()
        for r in node.receipts
    )


def confirmed(shop: UUID) -> UUID:
    order_id = place(shop)
    wait_until(lambda: caught_up(order_id), "the order to be confirmed")
    return order_id


def test_a_confirmed_orders_trace_shows_its_messages_saga_and_handled_receipts(
    console_shop,
):
    order_id = confirmed(console_shop)
    # when
    lines = parse(events_trace(str(order_id)))
    # then the order is the root, and what it caused is under it, in causation
    assert (lines[0].type, lines[0].depth) == ("orders.OrderPlaced", 0)
    chain = [
        ("inventory.ReserveInventory", "orders.OrderPlaced"),
        ("inventory.InventoryReserved", "inventory.ReserveInventory"),
        ("payments.ChargePayment", "inventory.InventoryReserved"),
        ("payments.PaymentSucceeded", "payments.ChargePayment"),
        ("shipping.CreateShipment", "payments.PaymentSucceeded"),
        ("shipping.ShipmentCreated", "shipping.CreateShipment"),
        ("orders.ConfirmOrder", "shipping.ShipmentCreated"),
        ("orders.OrderConfirmed", "orders.ConfirmOrder"),
    ]
    for child, parent in chain:
        assert parent_of(one(lines, child)).type == parent, child
    # the saga's steps and transitions inline, as the saga's own
    assert notes(lines) == [
        "started",
        "step ReserveInventory done",
        "step ChargePayment done",
        "step CreateShipment done",
        "completed",
    ]
    assert parent_of(one(lines, "sagas.SagaStarted")).type == "orders.OrderPlaced"
    assert (
        parent_of(one(lines, "sagas.SagaCompleted")).type == "shipping.ShipmentCreated"
    )
    # the charge and the confirmation handled, each with when and how long after
    charge = one(lines, "payments.ChargePayment").receipts
    assert [(state, who) for state, who, _ in charge] == [("handled", "payments")]
    assert re.fullmatch(r"\S+ \S+, \d+\.\d{3} s after", charge[0][2])
    confirmation = one(lines, "orders.OrderConfirmed").receipts
    assert {who for state, who, _ in confirmation if state == "handled"} >= {
        "notifications",
        "orders.summary",
    }
    assert all(state == "handled" for state, _, _ in confirmation)
    # and it is the very tree the staff console shows
    assert [(line.depth, line.type, line.id) for line in lines] == [
        (depth, node.envelope.type, node.envelope.message_id)
        for depth, node in trace(str(order_id)).nodes()
    ]


def test_the_same_trace_comes_by_correlation_id_and_by_message_id(console_shop):
    order_id = confirmed(console_shop)
    placed = LogEntry.objects.get(type="orders.OrderPlaced")
    by_key = events_trace(str(order_id))
    for asked in (str(placed.correlation_id), str(placed.message_id)):
        text = events_trace(asked)
        assert text.split("\n", 1)[1] == by_key.split("\n", 1)[1], asked


def test_a_cancellation_sent_later_is_in_the_orders_trace_as_its_own_root(
    console_shop,
):
    order_id = confirmed(console_shop)
    # when the customer calls it off in a request of its own
    with correlation_scope(uuid4()):
        bus.execute(CancelOrder(order_id=order_id, reason="changed my mind"))
    wait_until(lambda: caught_up(order_id), "the order to be cancelled")
    text = events_trace(str(order_id))
    # then both transactions are traced, each from its own root
    placed, cancelled = (
        LogEntry.objects.get(type=t).correlation_id
        for t in ("orders.OrderPlaced", "orders.OrderCancelled")
    )
    assert placed != cancelled
    assert (
        f"correlations {', '.join(sorted([str(placed), str(cancelled)]))} "
        in (text.splitlines()[0])
    )
    lines = parse(text)
    roots = [line.type for line in lines if line.parent is None]
    assert roots[:1] == ["orders.OrderPlaced"] and "orders.OrderCancelled" in roots
    assert "cancelled: changed my mind" in notes(lines)


def test_a_declined_cards_trace_shows_the_rejection(console_shop):
    order_id = place(console_shop, payment_method="pm_card_chargeDeclined")
    wait_until(lambda: caught_up(order_id), "the order to be rejected")
    # when
    lines = parse(events_trace(str(order_id)))
    # then the decline answers the charge, and the saga undoes the reservation
    assert parent_of(one(lines, "payments.PaymentDeclined")).type == (
        "payments.ChargePayment"
    )
    assert notes(lines) == [
        "started",
        "step ReserveInventory done",
        "step ChargePayment failed: the card was declined",
        "compensating: the card was declined",
        "compensated: the card was declined",
    ]
    release = one(lines, "inventory.ReleaseInventory")
    assert parent_of(release).type == "payments.PaymentDeclined"
    assert [r[:2] for r in release.receipts] == [("handled", "inventory")]
    rejected = one(lines, "orders.OrderRejected")
    assert parent_of(rejected).type == "orders.RejectOrder"
    assert all(state == "handled" for state, _, _ in rejected.receipts)
    assert not [line for line in lines if line.type.startswith("shipping.")]


def test_a_charge_parked_as_a_dead_letter_shows_parked(console_shop, monkeypatch):
    # given a charge the provider fails, parked at its first failure
    monkeypatch.setattr(registry.get("payments"), "max_attempts", 1)
    order_id = place(console_shop, payment_method="pm_card_error")
    wait_until(lambda: caught_up(order_id), "the order to be rejected")
    letter = DeadLetter.objects.get(type="payments.ChargePayment")
    # when
    lines = parse(events_trace(str(order_id)))
    # then the charge says it is parked, with its dead letter, attempts and error
    ((state, who, said),) = one(lines, "payments.ChargePayment").receipts
    assert (state, who) == ("parked", "payments")
    assert said.startswith(f"dead letter #{letter.id} since ")
    assert "1 attempt: " in said and "the provider failed to process" in said
    # and the saga, told of it, fails the step at once
    assert "step ChargePayment failed: the payment service failed and could not " in (
        " ".join(notes(lines))
    )
    # and the JSON and the diagram say so too
    data = json.loads(events_trace(str(order_id), "--json"))
    charge = next(
        n for n in _flat(data["roots"]) if n["type"] == "payments.ChargePayment"
    )
    assert [(r["state"], r["dead_letter_id"]) for r in charge["receipts"]] == [
        ("parked", letter.id)
    ]
    diagram = events_trace(str(order_id), "--mermaid")
    node = _node_names(diagram, str(order_id))[UUID(charge["message_id"])]
    assert _drawn_as(diagram, node) == "trouble"


def test_messages_a_paused_subscription_has_not_handled_show_pending(console_shop):
    # given notifications paused by staff
    call_command(
        "events", "pause", "notifications", "--reason", "mail outage", stdout=StringIO()
    )
    order_id = place(console_shop)
    wait_until(lambda: settled(order_id), "the order to be confirmed")
    # when
    lines = parse(events_trace(str(order_id)))
    # then every message notifications reads waits for it
    waiting = [
        (line.type, state, said)
        for line in lines
        for state, who, said in line.receipts
        if who == "notifications"
    ]
    assert ("orders.OrderPlaced", "pending", "not handled yet") in waiting
    assert ("orders.OrderConfirmed", "pending", "not handled yet") in waiting
    assert {state for _, state, _ in waiting} == {"pending"}
    # and the diagram draws them as waiting
    diagram = events_trace(str(order_id), "--mermaid")
    placed = LogEntry.objects.get(type="orders.OrderPlaced").message_id
    assert _drawn_as(diagram, _node_names(diagram, str(order_id))[placed]) == "waiting"


def test_json_holds_the_same_tree_as_the_text(console_shop):
    order_id = confirmed(console_shop)
    lines = parse(events_trace(str(order_id)))
    # when
    data = json.loads(events_trace(str(order_id), "--json"))
    # then
    assert data["asked"] == str(order_id) and data["messages"] == len(lines)
    assert data["truncated"] is False
    placed = LogEntry.objects.get(type="orders.OrderPlaced")
    assert data["correlation_ids"] == [str(placed.correlation_id)]
    as_json = [
        (depth, node["type"], UUID(node["message_id"]), node["receipts"])
        for depth, node in _flat_with_depth(data["roots"])
    ]
    assert [(d, t, i) for d, t, i, _ in as_json] == [
        (line.depth, line.type, line.id) for line in lines
    ]
    for (_, _, _, receipts), line in zip(as_json, lines, strict=True):
        assert [(r["state"], r["subscription"]) for r in receipts] == [
            (state, who) for state, who, _ in line.receipts
        ]
    root = data["roots"][0]
    assert root["payload"]["order_id"] == str(order_id)
    assert root["key_names"] == "order" and root["pruned"] is False
    handled = root["receipts"][0]
    assert handled["state"] == "handled" and handled["seconds_after"] >= 0


def test_mermaid_is_a_flowchart_of_causation(console_shop):
    order_id = confirmed(console_shop)
    nodes = [node for _, node in trace(str(order_id)).nodes()]
    # when
    diagram = events_trace(str(order_id), "--mermaid")
    # then it is a flowchart, each line a node, an edge or a style
    head, *body = diagram.splitlines()
    assert head == "flowchart TD"
    shapes: dict[str, list[str]] = {"node": [], "edge": [], "style": []}
    for line in body:
        if re.fullmatch(r'  m\d+(\["[^"]+"\]|\(\["[^"]+"\]\))', line):
            shapes["node"].append(line)
        elif re.fullmatch(r"  m\d+ --> m\d+", line):
            shapes["edge"].append(line)
        elif re.fullmatch(r"  (classDef \w+ \S+|class m\d+(,m\d+)* \w+)", line):
            shapes["style"].append(line)
        else:
            raise AssertionError(f"not a line of a flowchart: {line!r}")
    # one node per message, its type first; a transition drawn rounded
    assert len(shapes["node"]) == len(nodes)
    names = _node_names(diagram, str(order_id))
    for node in nodes:
        line = next(
            n
            for n in shapes["node"]
            if n.startswith(f"  {names[node.envelope.message_id]}[")
            or n.startswith(f"  {names[node.envelope.message_id]}([")
        )
        assert f'"{node.envelope.type}<br/>' in line
        rounded = node.envelope.type.startswith("sagas.")
        assert line.endswith('"])') == rounded, line
    # an edge from each message to each message it caused, and no other
    edges = {tuple(e.strip().split(" --> ")) for e in shapes["edge"]}
    assert edges == {
        (names[node.envelope.message_id], names[child.envelope.message_id])
        for node in nodes
        for child in node.children
    }


def test_a_real_manage_py_prints_the_same_trace_and_fails_clearly(console_shop):
    order_id = confirmed(console_shop)
    expected = events_trace(str(order_id))
    # when
    done = _manage_py("events", "trace", str(order_id))
    # then
    assert (done.returncode, done.stdout) == (0, expected)
    unknown = str(uuid4())
    failed = _manage_py("events", "trace", unknown)
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.splitlines()[-1] == (
        f"CommandError: no message has the id, correlation id or key {unknown!r}"
    )
    malformed = _manage_py("events", "trace", "")
    assert malformed.returncode != 0 and malformed.stdout == ""
    assert "error: argument id: give an order id" in malformed.stderr


def test_an_unknown_or_malformed_id_is_a_clear_error(console_shop):
    confirmed(console_shop)
    for asked in (str(uuid4()), "no-such-order"):
        with pytest.raises(CommandError, match="no message has the id, correlation"):
            events_trace(asked)
    with pytest.raises(CommandError, match="give an order id"):
        events_trace("  ")
    with pytest.raises(CommandError, match="a key has at most 200"):
        events_trace("x" * 201)
    with pytest.raises(CommandError, match="not allowed with argument"):
        events_trace("x", "--json", "--mermaid")


def _manage_py(*args: str) -> subprocess.CompletedProcess:
    """``manage.py`` in a process of its own, as operators run it (development
    settings), on this test's database."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{settings['NAME']}"
    else:
        url = database_url(settings, application_name="trace-cli")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "shop.settings.development",
        "DATABASE_URL": url,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _flat(nodes: list[dict]) -> list[dict]:
    return [node for _, node in _flat_with_depth(nodes)]


def _flat_with_depth(nodes: list[dict], depth: int = 0) -> list[tuple[int, dict]]:
    found = []
    for node in nodes:
        found.append((depth, node))
        found += _flat_with_depth(node["children"], depth + 1)
    return found


def _node_names(diagram: str, asked: str) -> dict[UUID, str]:
    """The diagram's node of each message of the trace (nodes come in its order)."""
    named = re.findall(r"^  (m\d+)[\[(]", diagram, re.M)
    messages = [node.envelope.message_id for _, node in trace(asked).nodes()]
    return dict(zip(messages, named, strict=True))


def _drawn_as(diagram: str, node: str) -> str | None:
    """The style class a diagram gives a node (``class m3,m7 trouble``)."""
    for line in diagram.splitlines():
        words = line.split()
        if words[:1] == ["class"] and node in words[1].split(","):
            return words[2]
    return None
