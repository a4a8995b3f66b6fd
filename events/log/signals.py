"""After commit: which (topic, partition) pairs a transaction wrote to.

The log knows nothing of who reads it. ``messages_committed`` is sent once per
transaction that wrote log rows, after it commits, with ``touched`` = the set of
(topic, partition) pairs; the dispatchers connect a receiver in
``EventsConfig.ready()`` and wake the subscriptions reading them. Sent from
``transaction.on_commit(..., robust=True)``: a receiver that fails is logged by Django
and never turns a committed request into an error.
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

messages_committed = Signal()


def announce_after_commit(touched: set[tuple[str, int]]) -> None:
    """Send ``messages_committed`` once the current transaction commits."""
    if touched:
        transaction.on_commit(
            lambda: messages_committed.send(sender=None, touched=touched), robust=True
        )
