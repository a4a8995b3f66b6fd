"""The public contract of loyalty: the messages it publishes.

The only module of this app that another app may import. Every message is on the
``loyalty`` topic, keyed by ``customer_id``, so one customer's point movements stay in
one partition, in order. ``points`` is always positive: PointsRevoked takes back
exactly what PointsAwarded gave for that order.
"""

from __future__ import annotations

from uuid import UUID

from events import Event, message


@message("loyalty.PointsAwarded", topic="loyalty", key="customer_id")
class PointsAwarded(Event):
    """The customer earned ``points`` for a confirmed order (once per order)."""

    customer_id: UUID
    order_id: UUID
    points: int


@message("loyalty.PointsRevoked", topic="loyalty", key="customer_id")
class PointsRevoked(Event):
    """The points awarded for an order were taken back: the order was cancelled or its
    payment refunded (once per order, and only if points were awarded)."""

    customer_id: UUID
    order_id: UUID
    points: int
