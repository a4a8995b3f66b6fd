"""Message bases, the wire-name registry, upcasting and the envelope.

A message type is a frozen pydantic model declared with :func:`message`, which gives it
a stable wire name (``"<topic>.<Name>"``, never a Python path), a topic, the field that
is its key (it decides the partition, so one aggregate's messages stay in order) and a
version. Reading an older stored version chains the type's ``from_v<n>`` static methods
(v<n> -> v<n+1>) up to the current one; stored rows are never rewritten.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict


class Message(BaseModel):
    """Base of every message: immutable values; ids and time belong to the envelope."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    wire_name: ClassVar[str]
    topic: ClassVar[str]
    key_field: ClassVar[str]
    version: ClassVar[int]

    def message_key(self) -> str:
        """The partitioning key: the value of the declared key field, as text."""
        return str(getattr(self, self.key_field))


class Event(Message):
    """A fact, named in the past tense (``OrderPlaced``)."""


class Command(Message):
    """A request to exactly one handler, in the imperative (``ReserveInventory``)."""


class UnknownMessageType(LookupError):
    """A stored or requested wire name that no registered type declares."""


class MessageVersionError(ValueError):
    """A stored version this code cannot read (newer, or a missing upcaster)."""


M = TypeVar("M", bound=Message)
_types: dict[str, type[Message]] = {}


def message(
    name: str, *, topic: str, key: str, version: int = 1
) -> Callable[[type[M]], type[M]]:
    """Declare a message type: its wire name, topic, key field and version."""

    def declare(cls: type[M]) -> type[M]:
        if not issubclass(cls, Message):
            raise TypeError(f"{cls.__name__} must subclass Event or Command")
        if key not in cls.model_fields:
            raise TypeError(f"{cls.__name__} has no field {key!r} to use as its key")
        if version < 1:
            raise TypeError(f"{cls.__name__}: version must be 1 or more")
        for older in range(1, version):
            if not callable(getattr(cls, f"from_v{older}", None)):
                raise TypeError(f"{cls.__name__} v{version} needs from_v{older}()")
        existing = _types.get(name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise TypeError(f"wire name {name!r} is already taken by {existing}")
        cls.wire_name, cls.topic, cls.key_field, cls.version = name, topic, key, version
        _types[name] = cls
        return cls

    return declare


def message_type(name: str) -> type[Message]:
    """The registered type for a wire name."""
    try:
        return _types[name]
    except KeyError:
        raise UnknownMessageType(f"no message type is registered as {name!r}") from None


def registered_types() -> dict[str, type[Message]]:
    """Every declared type by wire name (for the schema registry and admin)."""
    return dict(_types)


def upcast(cls: type[Message], payload: dict[str, Any], stored: int) -> dict[str, Any]:
    """Bring a payload stored at version ``stored`` up to ``cls.version``."""
    if stored > cls.version:
        raise MessageVersionError(
            f"{cls.wire_name} v{stored} is newer than this code (v{cls.version})"
        )
    for step in range(stored, cls.version):
        payload = getattr(cls, f"from_v{step}")(payload)
    return payload


def decode(type_name: str, version: int, payload: dict[str, Any]) -> Message:
    """A typed message from a stored row, upcast to the current version."""
    cls = message_type(type_name)
    return cls.model_validate(upcast(cls, payload, version))


def decode_json(type_name: str, version: int, payload: str | bytes) -> Message:
    """The same from the payload's JSON text: a current version goes straight through
    pydantic's JSON parser (faster than json.loads and then validation)."""
    cls = message_type(type_name)
    if version == cls.version:
        return cls.model_validate_json(payload)
    return cls.model_validate(upcast(cls, json.loads(payload), version))


@dataclass(frozen=True, slots=True)
class Envelope:
    """A message as it stands in the log: the payload plus where, when and why."""

    message_id: UUID
    type: str
    version: int
    topic: str
    key: str
    partition: int
    offset: int
    recorded_at: datetime
    correlation_id: UUID
    causation_id: UUID | None
    payload: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    stream: str | None = None
    stream_version: int | None = None

    def message(self) -> Message:
        """The typed message, upcast from the stored version."""
        return decode(self.type, self.version, self.payload)
