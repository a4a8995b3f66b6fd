"""A message on its way into the log: stamped with its ids and partition, written
later (at once, or at the end of a unit of work)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID, uuid4

from ..messages import Envelope, Message
from ..telemetry import tracing
from .context import current_causation_id, current_correlation_id
from .partitions import partition_for


@dataclass
class PendingMessage:
    """A message on its way into the log; ``offset`` is known once it is written, and
    ``partition`` is final then (the writer decides it by the database's count)."""

    message: Message
    partition: int
    correlation_id: UUID
    causation_id: UUID | None
    headers: dict[str, str]
    message_id: UUID = field(default_factory=uuid4)
    stream: str | None = None
    stream_version: int | None = None
    offset: int | None = None
    recorded_at: datetime | None = None

    @property
    def topic(self) -> str:
        return self.message.topic

    def envelope(self) -> Envelope:
        if self.offset is None or self.recorded_at is None:
            raise RuntimeError("the message has not been written to the log yet")
        return Envelope(
            message_id=self.message_id,
            type=self.message.wire_name,
            version=self.message.version,
            topic=self.message.topic,
            key=self.message.message_key(),
            partition=self.partition,
            offset=self.offset,
            recorded_at=self.recorded_at,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
            payload=self.message.model_dump(mode="json"),
            headers=self.headers,
            stream=self.stream,
            stream_version=self.stream_version,
        )


def stamp(
    *messages: Message,
    correlation_id: UUID | None = None,
    causation_id: UUID | None = None,
    headers: dict[str, str] | None = None,
) -> list[PendingMessage]:
    """Messages stamped with ids, correlation, causation and partition (unwritten);
    correlation and causation default to the current context's. When a span is
    current, each message's headers also get the trace context of its creation
    (``events.telemetry.tracing``)."""
    correlation = correlation_id or current_correlation_id() or uuid4()
    cause = causation_id or current_causation_id()
    items = [
        PendingMessage(
            message=message,
            partition=partition_for(message.message_key()),
            correlation_id=correlation,
            causation_id=cause,
            headers=dict(headers or {}),
        )
        for message in messages
    ]
    if tracing.publishing_traced():
        for item in items:
            tracing.record_creation(
                item.headers,
                topic=item.topic,
                message_type=item.message.wire_name,
                message_id=item.message_id,
                correlation_id=correlation,
            )
    return items
