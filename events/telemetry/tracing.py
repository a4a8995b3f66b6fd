"""Traces across the log: publishing records the trace, delivering continues it.

A message published while a span is current gets a PRODUCER span of its own
(``create <topic>``, ended at once: it marks the message's creation), whose W3C trace
context (``traceparent``, ``tracestate``) OpenTelemetry's propagator writes into the
message's headers, so into its log row. Delivering it starts a CONSUMER span
(``process <topic>``): for one message a child of that creation span, so a request's
trace goes on through every message it causes, across processes and waits in the log;
for a batch (``batch=True`` handlers) a span linked to the creation span of each of
its messages, which may belong to as many traces (OpenTelemetry's messaging semantic
conventions, https://opentelemetry.io/docs/specs/semconv/messaging/messaging-spans/).

Attributes use the conventions' names (``messaging.system``, ``.destination.name``
(the topic), ``.destination.partition.id``, ``.message.id``,
``.message.conversation_id`` (their name for a correlation id),
``.consumer.group.name`` (the subscription), ``.batch.message_count``); what they have
no name for is under ``events.``: the message type, its offset, its causation id and
``events.message.wait_seconds``, how long it waited in the log before this delivery.

When no span is current (no SDK set up: the API's spans are never valid) publishing
adds nothing, and delivery does nothing unless an SDK is installed: one cheap check per
message, no propagator work.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from uuid import UUID

from opentelemetry import context, propagate, trace
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import AttributeValue

from ..messages import Envelope

SYSTEM = "events"


def publishing_traced() -> bool:
    """Whether what is published now is traced: a span is current (never true
    without an SDK)."""
    return trace.get_current_span().get_span_context().is_valid


def delivery_traced() -> bool:
    """Whether deliveries are traced in this process: an SDK's tracer provider is
    installed (until then the API hands out its proxy)."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def record_creation(
    headers: dict[str, str],
    *,
    topic: str,
    message_type: str,
    message_id: UUID,
    correlation_id: UUID,
) -> None:
    """Start and end the creation span of a message being published, and write its
    trace context into ``headers``. Call only when :func:`publishing_traced`."""
    attributes: dict[str, AttributeValue] = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "create",
        "messaging.operation.name": "create",
        "messaging.destination.name": topic,
        "messaging.message.id": str(message_id),
        "messaging.message.conversation_id": str(correlation_id),
        "events.message.type": message_type,
    }
    with trace.get_tracer(__name__).start_as_current_span(
        f"create {topic}", kind=SpanKind.PRODUCER, attributes=attributes
    ):
        propagate.inject(headers)


@contextmanager
def processing(subscription: str, envelopes: Sequence[Envelope]) -> Iterator[None]:
    """The CONSUMER span of one delivery to ``subscription``: one message (a child of
    its creation span) or a batch (linked to each message's), current while the
    handler runs; an error the handler raises is recorded on it."""
    if not delivery_traced():
        yield
        return
    now = datetime.now(UTC)
    first = envelopes[0]
    topics = sorted({e.topic for e in envelopes})
    attributes: dict[str, AttributeValue] = {
        "messaging.system": SYSTEM,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.consumer.group.name": subscription,
        "messaging.destination.partition.id": str(first.partition),
        "messaging.message.conversation_id": str(first.correlation_id),
        "events.message.wait_seconds": max(_waited(e, now) for e in envelopes),
    }
    if len(topics) == 1:
        attributes["messaging.destination.name"] = topics[0]
    parent: context.Context | None = None
    links: list[Link] = []
    if len(envelopes) == 1:
        attributes.update(_message_attributes(first))
        if "traceparent" in first.headers:
            parent = propagate.extract(first.headers)
    else:
        attributes["messaging.batch.message_count"] = len(envelopes)
        links = [
            Link(
                created,
                {
                    **_message_attributes(e),
                    "events.message.wait_seconds": _waited(e, now),
                },
            )
            for e in envelopes
            if (created := _creation(e)) is not None
        ]
    name = f"process {topics[0]}" if len(topics) == 1 else "process"
    with trace.get_tracer(__name__).start_as_current_span(
        name,
        context=parent,
        kind=SpanKind.CONSUMER,
        links=links,
        attributes=attributes,
    ):
        yield


@contextmanager
def in_trace_of(envelope: Envelope) -> Iterator[None]:
    """The message's trace made current, with no span recorded: for the lines written
    about it after its delivery span ended (a retry scheduled, a dead letter), so
    they carry its ``trace_id`` like the handler's own lines."""
    created = _creation(envelope) if delivery_traced() else None
    if created is None:
        yield
        return
    token = context.attach(trace.set_span_in_context(trace.NonRecordingSpan(created)))
    try:
        yield
    finally:
        context.detach(token)


def _creation(envelope: Envelope) -> trace.SpanContext | None:
    if "traceparent" not in envelope.headers:
        return None
    found = trace.get_current_span(propagate.extract(envelope.headers))
    created = found.get_span_context()
    return created if created.is_valid else None


def _message_attributes(envelope: Envelope) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {
        "messaging.message.id": str(envelope.message_id),
        "events.message.type": envelope.type,
        "events.message.offset": envelope.offset,
    }
    if envelope.causation_id is not None:
        attributes["events.message.causation_id"] = str(envelope.causation_id)
    return attributes


def _waited(envelope: Envelope, now: datetime) -> float:
    return max(0.0, (now - envelope.recorded_at).total_seconds())
