"""Where a message's key leads: the platform shows keys, apps say what they name.

A dead letter, a saga or a trace names its message's key (an order's id, a
customer's); the platform does not know what an order is, so an app registers, for a
key field of its messages (``order_id``), a label and the URL of its staff page for
that key. Every message type keyed by that field links there, whichever app declared
it (payments' and shipping's messages are keyed by ``order_id`` too). A key with no
registered link is shown with no label, and the platform's pages link it to its
causation trace instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..messages import message_type
from ..sagas.registry import declared

_links: dict[str, tuple[str, Callable[[str], str]]] = {}


@dataclass(frozen=True)
class KeyLink:
    key: str
    label: str  # what the key names ("order"), or "" when nothing is registered
    url: str | None

    @property
    def short(self) -> str:
        """The key as a list shows it: a long one (an id) by its first characters."""
        return f"{self.key[:8]}…" if len(self.key) > 12 else self.key


def register_key_link(field: str, *, label: str, url: Callable[[str], str]) -> None:
    """Link keys of messages keyed by ``field`` to ``url(key)`` (called when a page
    is drawn, so it may ``reverse`` admin URLs)."""
    _links[field] = (label, url)


def key_field(type_name: str) -> str | None:
    """The payload field a message type is keyed by (None for an unknown type)."""
    try:
        return message_type(type_name).key_field
    except LookupError:
        return None


def key_link(type_name: str, key: str) -> KeyLink:
    found = _links.get(key_field(type_name) or "")
    if found is None:
        return KeyLink(key, "", None)
    label, url = found
    return KeyLink(key, label, url(key))


def saga_key_link(saga_name: str, key: str) -> KeyLink:
    """What a saga instance's key names: the key of the event that starts it (an
    ``orders.fulfilment`` key is an order's id)."""
    saga = declared(saga_name)
    started_by = getattr(saga.started_by, "wire_name", "") if saga else ""
    return key_link(started_by, key)


def link_of(type_name: str, key: str, payload: dict[str, Any]) -> KeyLink:
    """A message's key link; a saga's transitions (``sagas.*``) link as their saga."""
    if type_name.startswith("sagas.") and payload.get("saga"):
        return saga_key_link(str(payload["saga"]), key)
    return key_link(type_name, key)
