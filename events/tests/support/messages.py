"""Message types used by the platform's tests (topics ``t.*``, no shop meaning)."""

from uuid import UUID

from events.messages import Command, Event, message


@message("t.ThingHappened", topic="t.things", key="thing_id")
class ThingHappened(Event):
    thing_id: str
    n: int = 0


@message("t.OtherHappened", topic="t.other", key="thing_id")
class OtherHappened(Event):
    thing_id: str


@message("t.DoThing", topic="t.things", key="thing_id")
class DoThing(Command):
    thing_id: str
    request_id: UUID | None = None


@message("t.Renamed", topic="t.things", key="thing_id", version=3)
class Renamed(Event):
    """v1 had ``name``; v2 split it into ``first``/``last``; v3 added ``title``."""

    thing_id: str
    first: str
    last: str
    title: str

    @staticmethod
    def from_v1(data: dict) -> dict:
        first, _, last = data.pop("name").partition(" ")
        return {**data, "first": first, "last": last}

    @staticmethod
    def from_v2(data: dict) -> dict:
        return {**data, "title": ""}
