"""What the platform itself announces about delivery, as messages on the log.

``MessageParked`` is published in the transaction that parks a message as a dead
letter, keyed like the parked message (so it stays in its partition, in order with the
key's other messages) and with its correlation id: a saga that sent the parked command
learns that no answer will come (``events.sagas.engine.on_parked``), and a trace shows
it under the message it is about."""

from __future__ import annotations

from uuid import UUID

from ..messages import Event, message


@message("deadletters.MessageParked", topic="deadletters", key="key")
class MessageParked(Event):
    subscription: str
    message_id: UUID
    type: str  # the parked message's wire name
    key: str
    dead_letter_id: int
    attempts: int
    error: str  # the error's class and message
