"""Time travel: an order as it stood at a point in time, with the events that made it.

Used by ``manage.py orders show`` and the API. Reads only the order's stream (and its
snapshots): the answer is the same whenever it is asked, and read models play no part.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from events import repository, streams

from .domain import Order, OrderNotFoundError


def order_as_of(
    order_id: UUID, as_of: datetime | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The order's state (JSON-ready) and its events (type, version, schema_version,
    recorded_at, data), now or as recorded up to ``as_of`` (an aware datetime).

    Raises OrderNotFoundError when the order did not exist (yet) at that time."""
    order = repository.load(Order, order_id, as_of=as_of)
    if not order.exists:
        when = "" if as_of is None else f" as of {as_of.isoformat()}"
        raise OrderNotFoundError(order_id, when)
    state = {
        "order_id": str(order_id),
        "version": order.version,
        **order.state.model_dump(mode="json"),
    }
    events = [e for e in streams.history(order.stream) if e["version"] <= order.version]
    return state, events
