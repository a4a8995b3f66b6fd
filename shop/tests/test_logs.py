"""Log lines in production's JSON format (``shop/logs.py``), in-process: a line written
while a message is handled carries the message's fields and the trace's ids, a
request's lines carry its correlation id (Django's own 4xx line too), and a traceback
is one field of one line. Runs on SQLite and, in the PostgreSQL pass, on
PostgreSQL; ``tests/flows/test_telemetry_celery.py`` reads the same lines from real
processes."""

from __future__ import annotations

import io
import json
import logging
from uuid import uuid4

from django.db import transaction
from django.test import Client

import pytest
import structlog
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.test.globals_test import reset_trace_globals

from events.delivery.drain import drain
from events.log.outbox import publish
from events.log.partitions import partition_for
from events.tests.support.messages import ThingHappened
from shop.logs import logging_config

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def lines():
    """The root logger's lines in the JSON format, as parsed objects."""
    options = logging_config(log_format="json", level="INFO")["formatters"]
    formatter = options["structlog"]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=formatter["foreign_pre_chain"],
            processors=formatter["processors"],
        )
    )
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    yield exporter
    provider.shutdown()
    reset_trace_globals()


def test_a_line_written_while_a_message_is_handled_carries_its_fields(
    subscribe, lines, spans
):
    # given a handler that logs, and a message published in a request's trace
    sub = subscribe("s", topics=("t.things",))
    sub.on(ThingHappened)(
        lambda event, ctx: logging.getLogger("test.handler").warning("handling")
    )
    cause = uuid4()
    with trace.get_tracer("test").start_as_current_span("request"):
        with transaction.atomic():
            (item,) = publish(ThingHappened(thing_id="a"), causation_id=cause)
    # when it is delivered
    drain(sub, partition_for("a"))
    # then the handler's line names the message, its delivery and its span
    (line,) = [line for line in lines() if line["logger"] == "test.handler"]
    (process,) = [s for s in spans.get_finished_spans() if s.name.startswith("process")]
    assert line["event"] == "handling" and line["level"] == "warning"
    assert line["correlation_id"] == str(item.correlation_id)
    assert line["causation_id"] == str(cause)
    assert line["message_id"] == str(item.message_id)
    assert line["message_type"] == "t.ThingHappened"
    assert (line["subscription"], line["partition"], line["offset"]) == (
        "s",
        item.partition,
        item.offset,
    )
    assert line["trace_id"] == f"{process.context.trace_id:032x}"
    assert line["span_id"] == f"{process.context.span_id:016x}"
    # and nothing of it is left bound once the delivery is over
    assert structlog.contextvars.get_contextvars() == {}


def test_a_request_s_lines_carry_its_correlation_id(lines):
    # given a request with a correlation id, refused for want of a token
    correlation = uuid4()
    response = Client().get(
        "/api/v1/orders", headers={"X-Correlation-ID": str(correlation)}
    )
    assert response.status_code == 401
    # then its request line and Django's own warning carry the correlation id
    (request,) = [line for line in lines() if line["event"] == "request"]
    assert (request["method"], request["path"], request["status"]) == (
        "GET",
        "/api/v1/orders",
        401,
    )
    assert request["correlation_id"] == str(correlation)
    (refused,) = [line for line in lines() if line["logger"] == "django.request"]
    assert refused["event"] == "Unauthorized: /api/v1/orders"
    assert refused["correlation_id"] == str(correlation)
    # and once the response is closed, the thread's lines are no request's
    assert structlog.contextvars.get_contextvars() == {}


def test_a_traceback_is_one_field_of_one_line(lines):
    # when an error is logged with its traceback
    found: dict[str, int] = {}
    try:
        found["missing"]
    except KeyError:
        logging.getLogger("test.errors").exception("lookup failed")
    # then it is one line whose "exception" field holds the whole traceback
    (line,) = lines()
    assert line["event"] == "lookup failed" and line["level"] == "error"
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert line["exception"].rstrip().endswith("KeyError: 'missing'")
