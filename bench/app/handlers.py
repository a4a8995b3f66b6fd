"""The subscriptions under test: a no-op, a projection writing one row per message
(batch handler with bulk_create, and a per-message variant), a latency probe, and an
I/O-bound one whose handler waits outside the database (``bench.scale``)."""

from __future__ import annotations

import time

from django.conf import settings

from events.delivery.subscriptions import Context, Delivery, Subscription

from .contracts import CallMade, Noop, Ping, RowWritten, RowWrittenSingly
from .models import Handled, Row

noop = Subscription("bench.noop", topics=("bench.noop",))
rows = Subscription("bench.rows", topics=("bench.rows",))
rows_single = Subscription("bench.rows_single", topics=("bench.rows_single",))
latency = Subscription("bench.latency", topics=("bench.latency",))
calls = Subscription("bench.scale", topics=("bench.scale",))


@noop.on(Noop)
def on_noop(event: Noop, ctx: Context) -> None:
    """Does nothing: what is left is the platform's own cost per message."""


@rows.on(RowWritten, batch=True)
def on_row_written(deliveries: list[Delivery]) -> None:
    """A projection as a real one is written: one INSERT for the whole run."""
    Row.objects.bulk_create(
        Row(message_id=d.ctx.envelope.message_id, key=d.message.key, value=d.message.n)
        for d in deliveries
    )


@rows_single.on(RowWrittenSingly)
def on_row_written_singly(event: RowWrittenSingly, ctx: Context) -> None:
    """The naive projection: one ORM create (one INSERT) per message."""
    Row.objects.create(message_id=ctx.envelope.message_id, key=event.key, value=event.n)


@latency.on(Ping)
def on_ping(event: Ping, ctx: Context) -> None:
    """Records when the handler ran; the publisher recorded when it committed."""
    Handled.objects.create(message_id=ctx.envelope.message_id, handled_at=time.time())


@calls.on(CallMade, outside=True)
def on_call_made(event: CallMade, ctx: Context) -> None:
    """Waits ``BENCH_SCALE_CALL_MS`` (5 ms) with no transaction open, as a call to
    another service does: the drain's time goes to waiting, not to the database."""
    time.sleep(settings.BENCH_SCALE_CALL_MS / 1000)
