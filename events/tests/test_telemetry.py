"""Traces across the log (``events.telemetry.tracing``), in-process with the SDK's
in-memory exporter: a published message carries its creation span's context in its
headers and row, its delivery is a CONSUMER span that continues the publisher's trace
(one message) or links to every publisher (a batch), and without an SDK nothing is
recorded at all. Runs on SQLite and, in the PostgreSQL pass, on PostgreSQL."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.test.globals_test import reset_trace_globals
from opentelemetry.trace import SpanKind, StatusCode

from events.delivery.drain import drain
from events.delivery.retries import Backoff
from events.log.outbox import publish
from events.log.partitions import partition_for
from events.models import LogEntry
from events.telemetry.tracing import delivery_traced

from .support.messages import DoThing, OtherHappened, ThingHappened

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def spans():
    """An SDK tracer provider for this test, its finished spans kept in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    yield exporter
    provider.shutdown()
    reset_trace_globals()


def request_span(name="POST /orders"):
    return trace.get_tracer("test").start_as_current_span(name, kind=SpanKind.SERVER)


def emit(*messages):
    with transaction.atomic():
        return publish(*messages)


def named(exporter, name):
    return [s for s in exporter.get_finished_spans() if s.name == name]


def test_a_message_published_under_a_span_records_its_creation_in_its_row(spans):
    # given a request's span
    with request_span() as request:
        # when a message is published
        (item,) = emit(ThingHappened(thing_id="a"))
    # then a PRODUCER span marks its creation, a child of the request's span
    (created,) = named(spans, "create t.things")
    assert created.kind is SpanKind.PRODUCER
    assert created.parent.span_id == request.get_span_context().span_id
    assert created.context.trace_id == request.get_span_context().trace_id
    assert created.attributes["messaging.message.id"] == str(item.message_id)
    assert created.attributes["messaging.destination.name"] == "t.things"
    assert created.attributes["messaging.message.conversation_id"] == str(
        item.correlation_id
    )
    # and its W3C trace context is in the log row's headers
    headers = LogEntry.objects.get(message_id=item.message_id).headers
    trace_id, span_id = (
        f"{created.context.trace_id:032x}",
        f"{created.context.span_id:016x}",
    )
    assert headers["traceparent"].startswith(f"00-{trace_id}-{span_id}-")


def test_a_delivered_message_continues_the_trace_of_its_publisher(subscribe, spans):
    # given a subscription whose handler publishes in turn
    sub = subscribe("s", topics=("t.things",))

    @sub.on(ThingHappened)
    def on_thing(event, ctx):
        ctx.publish(OtherHappened(thing_id=event.thing_id))

    with request_span() as request:
        (item,) = emit(ThingHappened(thing_id="a", n=1))
    # when it is delivered
    assert drain(sub, partition_for("a")).handled == 1
    # then its delivery is a CONSUMER span, a child of the message's creation span
    (created,) = named(spans, "create t.things")
    (process,) = named(spans, "process t.things")
    assert process.kind is SpanKind.CONSUMER
    assert process.context.trace_id == request.get_span_context().trace_id
    assert process.parent.span_id == created.context.span_id
    assert not process.links
    attributes = process.attributes
    assert attributes["messaging.system"] == "events"
    assert attributes["messaging.operation.type"] == "process"
    assert attributes["messaging.destination.name"] == "t.things"
    assert attributes["messaging.consumer.group.name"] == "s"
    assert attributes["messaging.message.id"] == str(item.message_id)
    assert attributes["messaging.message.conversation_id"] == str(item.correlation_id)
    assert attributes["messaging.destination.partition.id"] == str(item.partition)
    assert attributes["events.message.offset"] == item.offset
    assert attributes["events.message.type"] == "t.ThingHappened"
    assert attributes["events.message.wait_seconds"] >= 0
    # and what the handler published is created inside the delivery's span
    (caused,) = named(spans, "create t.other")
    assert caused.parent.span_id == process.context.span_id
    assert caused.context.trace_id == request.get_span_context().trace_id


def test_a_batch_is_linked_to_the_creation_of_each_of_its_messages(subscribe, spans):
    # given a batch handler, and three messages of one key published by three
    # requests (three traces)
    sub = subscribe("b", topics=("t.things",))
    sub.on(ThingHappened, batch=True)(lambda deliveries: None)
    published = []
    for n in range(3):
        with request_span(f"request {n}"):
            published += emit(ThingHappened(thing_id="k", n=n))
    # when they are delivered
    assert drain(sub, partition_for("k")).handled == 3
    # then one CONSUMER span handles the batch, linked to each creation span
    (process,) = named(spans, "process t.things")
    created = named(spans, "create t.things")
    assert len({s.context.trace_id for s in created}) == 3
    assert [link.context.span_id for link in process.links] == [
        s.context.span_id for s in created
    ]
    assert [link.attributes["messaging.message.id"] for link in process.links] == [
        str(item.message_id) for item in published
    ]
    assert process.attributes["messaging.batch.message_count"] == 3
    assert process.attributes["messaging.consumer.group.name"] == "b"
    assert process.parent is None  # a batch belongs to no one of its traces


def test_an_outside_handler_runs_in_the_span_of_its_message(subscribe, spans):
    # given an outside handler
    sub = subscribe("o", topics=("t.things",))
    sub.handles(DoThing, outside=True)(lambda cmd, ctx: None)
    with request_span():
        emit(DoThing(thing_id="x"))
    # when the command is delivered
    assert drain(sub, partition_for("x")).handled == 1
    # then its call is a child of the command's creation
    (created,) = named(spans, "create t.things")
    (process,) = named(spans, "process t.things")
    assert process.parent.span_id == created.context.span_id
    assert process.attributes["messaging.consumer.group.name"] == "o"


def test_a_failing_handler_records_its_error_on_the_span(subscribe, spans):
    # given a handler that raises
    sub = subscribe(
        "f", topics=("t.things",), backoff=Backoff(base=timedelta(0), cap=timedelta(0))
    )

    @sub.on(ThingHappened)
    def broken(event, ctx):
        raise ValueError("no such thing")

    with request_span():
        emit(ThingHappened(thing_id="z"))
    # when its message is delivered
    drain(sub, partition_for("z"))
    # then the delivery's span is an error, with the exception as an event
    process = named(spans, "process t.things")[0]
    assert process.status.status_code is StatusCode.ERROR
    (raised,) = [e for e in process.events if e.name == "exception"]
    assert raised.attributes["exception.type"] == "ValueError"


class TraceOfLines(logging.Handler):
    """The trace id current when each line of ``events.delivery`` is written (what
    the log formatter gives a line as its ``trace_id``)."""

    def __init__(self) -> None:
        super().__init__()
        self.traces: list[tuple[str, int]] = []

    def emit(self, record: logging.LogRecord) -> None:
        current = trace.get_current_span().get_span_context()
        self.traces.append((record.getMessage(), current.trace_id))


def test_the_retry_and_dead_letter_lines_carry_the_messages_trace(subscribe, spans):
    # given a handler that always raises, two attempts in all
    sub = subscribe(
        "r",
        topics=("t.things",),
        max_attempts=2,
        backoff=Backoff(base=timedelta(0), cap=timedelta(0)),
    )

    @sub.on(ThingHappened)
    def broken(event, ctx):
        raise KeyError("no such thing")

    lines = TraceOfLines()
    logging.getLogger("events.delivery").addHandler(lines)
    try:
        with request_span() as request:
            emit(ThingHappened(thing_id="q"))
        # when it is retried, then parked, after each delivery span has ended
        drain(sub, partition_for("q"))
        drain(sub, partition_for("q"))
    finally:
        logging.getLogger("events.delivery").removeHandler(lines)
    # then both lines carry the trace of the request that published it
    retry = [t for text, t in lines.traces if "failed (attempt 1 of 2)" in text]
    parked = [t for text, t in lines.traces if "parked t.ThingHappened" in text]
    wanted = request.get_span_context().trace_id
    assert retry == [wanted] and parked == [wanted]


def test_without_tracing_nothing_is_recorded(subscribe):
    # given no SDK in the process (the default: OTEL_TRACES_EXPORTER unset)
    assert not delivery_traced()
    sub = subscribe("n", topics=("t.things",))
    seen = []
    sub.on(ThingHappened)(lambda event, ctx: seen.append(ctx.envelope.headers))
    # when a message is published and delivered
    (item,) = emit(ThingHappened(thing_id="a"))
    drain(sub, partition_for("a"))
    # then it carries no trace context
    assert item.headers == {} and seen == [{}]
    assert LogEntry.objects.get(message_id=item.message_id).headers == {}
