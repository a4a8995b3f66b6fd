"""Where an order's journey spends its time: per hop of the critical path, how long
the message waited in the log before its subscription's drain took it, and how long
the drain then took until the next message was written.

Read from what the platform recorded: a message's ``recorded_at`` (written in its
producer's transaction, at its end), the reading subscription's inbox row
(``handled_at``: claimed at the start of the transaction that records the delivery)
and the next message's ``recorded_at`` (written at that transaction's end). For a
handler in the database the inbox is claimed before the handler runs, so
``waited`` = wake-up, queueing, locking and reading, and ``took`` = the handler and the
writing. An outside handler (the charge) is recorded after its call: its ``waited``
includes the provider's answer, and the provider's latency is shown beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connection

# (message, the subscription that handles it, the message its handler publishes)
CRITICAL_PATH = (
    ("orders.OrderPlaced", "orders.fulfilment", "inventory.ReserveInventory"),
    ("inventory.ReserveInventory", "inventory", "inventory.InventoryReserved"),
    ("inventory.InventoryReserved", "orders.fulfilment", "payments.ChargePayment"),
    ("payments.ChargePayment", "payments", "payments.PaymentSucceeded"),
    ("payments.PaymentSucceeded", "orders.fulfilment", "shipping.CreateShipment"),
    ("shipping.CreateShipment", "shipping", "shipping.ShipmentCreated"),
    ("shipping.ShipmentCreated", "orders.fulfilment", "orders.ConfirmOrder"),
    ("orders.ConfirmOrder", "orders", "orders.OrderConfirmed"),
)

_HOP_SQL = """
SELECT EXTRACT(EPOCH FROM i.handled_at - m.recorded_at),
       EXTRACT(EPOCH FROM n.recorded_at - i.handled_at)
FROM events_log m
JOIN events_inbox i ON i.message_id = m.message_id AND i.subscription = %s
JOIN events_log n ON n.causation_id = m.message_id AND n.type = %s
WHERE m.type = %s AND m.key = ANY(%s)
"""


def hops(
    order_ids: list[str], *, spread: Callable[[list[float]], dict[str, float]]
) -> list[dict[str, Any]]:
    """Per hop of the critical path, the ``spread`` of ``waited`` and ``took`` (ms)
    over the given orders."""
    rows = []
    with connection.cursor() as cursor:
        for message, subscription, answer in CRITICAL_PATH:
            cursor.execute(_HOP_SQL, [subscription, answer, message, order_ids])
            found = cursor.fetchall()
            rows.append(
                {
                    "message": message,
                    "subscription": subscription,
                    "count": len(found),
                    "waited_ms": spread([float(w) * 1000 for w, _ in found]),
                    "took_ms": spread([float(t) * 1000 for _, t in found]),
                }
            )
    return rows
