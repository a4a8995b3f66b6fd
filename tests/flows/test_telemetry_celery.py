"""One order's trace and log lines, through the processes production runs: gunicorn
serving ``POST /api/v1/orders`` over real HTTP, a worker of processes and the payments
worker of threads (``celery -A shop worker``), on PostgreSQL and Redis.

Every process exports its spans over OTLP/HTTP to a receiver in this test process
(``tests.support.otlp``) and writes JSON log lines (``LOG_FORMAT=json``). The test
follows the order's trace from the request's SERVER span through the creation and
delivery of every message of the saga to the card charge and the confirmation, each
span's parent in the same trace, and reads the log lines of the web server and of the
workers that carry the order's correlation id. The mail server refuses connections, so
the confirmation mail fails and its line shows the handled message's fields and the
traceback in one field."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import connection

import pytest
import requests

from orders.models import AvailabilityView, CustomerView, OrderSummaryView
from processes.waiting import wait_until
from tests.support import workers
from tests.support.otlp import ReceivedSpan, SpanReceiver, span_receiver
from tests.support.servers import ShopServer
from tests.support.storefront import ADDRESS

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

TIMEOUT = 60.0
PASSWORD = "pw-of-ann-1234"
GUNICORN = ("-m", "gunicorn", "shop.wsgi", "--workers", "1", "--threads", "4", "--bind")
# The saga's walk, as (subscription, message type) of each delivery.
WALK = [
    ("orders.fulfilment", "orders.OrderPlaced"),
    ("inventory", "inventory.ReserveInventory"),
    ("orders.fulfilment", "inventory.InventoryReserved"),
    ("payments", "payments.ChargePayment"),
    ("orders.fulfilment", "payments.PaymentSucceeded"),
    ("shipping", "shipping.CreateShipment"),
    ("orders.fulfilment", "shipping.ShipmentCreated"),
    ("orders", "orders.ConfirmOrder"),
]


def traced(service: str, receiver: SpanReceiver) -> dict[str, str]:
    return {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_SERVICE_NAME": service,
        "OTEL_BSP_SCHEDULE_DELAY": "50",  # ms: export soon after a span ends
        "LOG_FORMAT": "json",
    }


def json_lines(output: str) -> list[dict[str, Any]]:
    found = []
    for line in output.splitlines():
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
    return found


def delivery(span: ReceivedSpan) -> tuple[str, str] | None:
    if (
        span.kind != "consumer"
        or "messaging.consumer.group.name" not in span.attributes
    ):
        return None
    attributes = span.attributes
    return attributes["messaging.consumer.group.name"], attributes.get(
        "events.message.type", ""
    )


def ancestors(span: ReceivedSpan, by_id: dict[str, ReceivedSpan]) -> list[ReceivedSpan]:
    chain = []
    while span.parent_id:
        span = by_id[span.parent_id]  # a parent missing from the trace: KeyError
        chain.append(span)
    return chain


def tree(trace: list[ReceivedSpan]) -> str:
    """The trace as an indented tree, queries left out."""
    children: dict[str, list[ReceivedSpan]] = {}
    for span in sorted(trace, key=lambda s: s.start_ns):
        children.setdefault(span.parent_id, []).append(span)
    lines: list[str] = []

    def walk(span: ReceivedSpan, depth: int) -> None:
        if span.kind == "client":
            return
        what = delivery(span) or (span.attributes.get("events.message.type"),)
        label = " ".join(str(w) for w in what if w)
        lines.append(f"{'  ' * depth}{span.name} [{span.kind}, {span.service}] {label}")
        for child in children.get(span.span_id, []):
            walk(child, depth + 1)

    for root in children.get("", []):
        walk(root, 0)
    return "\n".join(lines)


@pytest.fixture
def receiver():
    with span_receiver() as made:
        yield made


@pytest.fixture
def web(broker, receiver):
    env = {
        **traced("shop-web", receiver),
        "DJANGO_SETTINGS_MODULE": "tests.flows.worker_settings",
        "DATABASE_URL": workers.database_url(
            connection.settings_dict, application_name="traced-web"
        ),
        "REDIS_URL": broker,
        "EVENTS_DISPATCHER": "celery",
        "EVENTS_WAKE": settings.EVENTS_WAKE,
        "EMAIL_URL": "memorymail://",
    }
    server = ShopServer(env=env, command=GUNICORN).start()
    yield server
    server.stop()
    wait_until(
        lambda: not _sessions("traced-web"),
        "the web server's sessions to close",
        timeout=TIMEOUT,
    )


def _sessions(application_name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            [application_name],
        )
        return cursor.fetchone()[0]


def open_shop() -> None:
    call_command(
        "catalog",
        "add",
        "MUG",
        "--name",
        "Mug",
        "--price",
        "9.50",
        "--stock",
        "5",
        stdout=StringIO(),
    )
    call_command(
        "customers",
        "add",
        "ann@example.com",
        "--name",
        "Ann",
        "--password",
        PASSWORD,
        stdout=StringIO(),
    )
    wait_until(
        lambda: AvailabilityView.objects.exists() and CustomerView.objects.exists(),
        "orders' views of the catalogue and the customer",
        timeout=TIMEOUT,
    )


def test_one_order_is_one_trace_and_its_lines_share_its_correlation_id(
    start_workers, receiver, web
):
    # given the shop's workers and web server, all traced, a product and a customer
    shop = start_workers(
        email_url="smtp://127.0.0.1:1",  # refuses: the mails fail
        env={**traced("shop-worker", receiver)},
    )
    open_shop()
    token = requests.post(
        f"{web.url}/api/v1/tokens",
        json={"email": "ann@example.com", "password": PASSWORD},
        timeout=30,
    ).json()["token"]
    # when the customer orders over HTTP
    placed = requests.post(
        f"{web.url}/api/v1/orders",
        json={
            "items": [{"sku": "MUG", "quantity": 1}],
            "shipping_address": ADDRESS,
            "payment_method": "pm_card_visa",
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["order_id"]
    correlation_id = placed.headers["X-Correlation-ID"]
    wait_until(
        lambda: OrderSummaryView.objects.filter(
            order_id=order_id, status="confirmed"
        ).exists(),
        "the order to be confirmed",
        timeout=TIMEOUT,
    )
    # then the POST's SERVER span is the root of one trace...
    (post,) = receiver.find(
        lambda s: (
            s.kind == "server"
            and s.attributes.get("http.request.method", s.attributes.get("http.method"))
            == "POST"
            and "orders" in s.name
        )
    )
    assert post.service == "shop-web" and not post.parent_id

    def walked() -> bool:
        found = {delivery(s) for s in receiver.trace(post.trace_id)}
        return all(step in found for step in WALK)

    receiver.wait_for(
        walked, "delivery of every saga step in the trace", timeout=TIMEOUT
    )
    trace = receiver.trace(post.trace_id)
    by_id = {s.span_id: s for s in trace}
    print(f"--- the trace of order {order_id} ---\n{tree(trace)}")
    # ...that holds a delivery of every step of the saga, each a child of the
    # creation of its message, which is a child of the delivery (or the request)
    # that published it
    for step in WALK:
        (span,) = [s for s in trace if delivery(s) == step]
        created = by_id[span.parent_id]
        assert created.kind == "producer", step
        assert (
            created.attributes["messaging.message.id"]
            == span.attributes["messaging.message.id"]
        )
        assert span.attributes["messaging.message.conversation_id"] == correlation_id
        assert span.attributes["events.message.wait_seconds"] >= 0
    # the card charge ran in a worker, its parents chaining back through
    # the saga to the POST
    (charge,) = [
        s for s in trace if delivery(s) == ("payments", "payments.ChargePayment")
    ]
    assert charge.trace_id == post.trace_id
    chain = ancestors(charge, by_id)
    assert chain[-1] == post
    assert [delivery(s) for s in chain if delivery(s)] == [
        ("orders.fulfilment", "inventory.InventoryReserved"),
        ("inventory", "inventory.ReserveInventory"),
        ("orders.fulfilment", "orders.OrderPlaced"),
    ]
    assert {s.service for s in trace} == {"shop-web", "shop-worker"}
    # and the confirmation descends from the charge
    (confirm,) = [s for s in trace if delivery(s) == ("orders", "orders.ConfirmOrder")]
    assert charge in ancestors(confirm, by_id)

    # the web server's request line carries the correlation id and the trace's ids
    lines = json_lines(web.output)
    (request_line,) = [
        line
        for line in lines
        if line.get("event") == "request" and line.get("path") == "/api/v1/orders"
    ]
    assert request_line["correlation_id"] == correlation_id
    assert (request_line["status"], request_line["method"]) == (202, "POST")
    assert request_line["trace_id"] == post.trace_id

    # a worker's line about a message it handled carries the message's fields, and
    # the failed mail's traceback as one field
    def failed_mail() -> list[dict[str, Any]]:
        return [
            line
            for line in json_lines(shop.default.output)
            if line.get("subscription") == "notifications"
            and line.get("correlation_id") == correlation_id
            and line.get("level") == "warning"
        ]

    wait_until(failed_mail, "the failed mail's line", timeout=TIMEOUT)
    mail = failed_mail()[0]

    def confirmed() -> list[ReceivedSpan]:
        return [
            s
            for s in receiver.trace(post.trace_id)
            if delivery(s) == ("notifications", mail["message_type"])
            and s.attributes["messaging.message.id"] == mail["message_id"]
        ]

    receiver.wait_for(confirmed, "the failed mail's delivery span", timeout=TIMEOUT)
    failed = confirmed()[0]
    assert failed.error  # the handler's error is on its span
    attributes = failed.attributes
    assert mail["partition"] == int(attributes["messaging.destination.partition.id"])
    assert mail["offset"] == attributes["events.message.offset"]
    assert mail["causation_id"] == attributes["events.message.causation_id"]
    assert mail["exception"].startswith("Traceback (most recent call last):")
    assert "ConnectionRefusedError" in mail["exception"]
    assert "\n" not in json.dumps(mail)  # one line
    # (the order's lines, for the eye)
    mine = [
        line
        for output in (web.output, shop.default.output, shop.payments.output)
        for line in json_lines(output)
        if line.get("correlation_id") == correlation_id
    ]
    print(f"--- log lines of correlation id {correlation_id} ---")
    for line in sorted(mine, key=lambda line: line["timestamp"]):
        print(json.dumps({k: v for k, v in line.items() if k != "exception"}))
