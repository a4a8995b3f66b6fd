"""The order's journey, from placed to settled, as the platform's metrics time it
(``events_journey_seconds{journey="orders.settled", end=...}``)."""

from events import journey

from .contracts import OrderCancelled, OrderConfirmed, OrderPlaced, OrderRejected

settled = journey(
    "orders.settled",
    start=OrderPlaced,
    ends=(OrderConfirmed, OrderRejected, OrderCancelled),
)
