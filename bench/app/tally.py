"""The event-store benchmark's aggregate and projection: a tally of amounts.

The state stays the same size however long the history (total, count, last amount),
so a snapshot costs the same at 10 events and at 100,000, and folding an event is one
small pydantic model: what is measured is the store, not the domain code. The
projection keeps one ``bench_tally_view`` row per tally, upserted once per batch.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from events.delivery.subscriptions import Delivery
from events.store.aggregate import Aggregate
from events.store.projections import Projection, projection

from .contracts import TallyAdded
from .models import TallyView

SNAPSHOT_EVERY = 100


class TallyState(BaseModel):
    total: int = 0
    count: int = 0
    last: int = 0


class Tally(Aggregate[TallyState]):
    stream_prefix = "bench-tally"
    State = TallyState
    snapshot_every = SNAPSHOT_EVERY

    # a tally folds only its own stream, whose events are all TallyAdded
    @staticmethod
    def evolve(state: TallyState, event: TallyAdded) -> TallyState:  # type: ignore[override]
        return TallyState(
            total=state.total + event.amount, count=state.count + 1, last=event.amount
        )

    def add(self, amount: int) -> None:
        self.record(TallyAdded(tally_id=self.id, amount=amount))


class UnsnappedTally(Tally):
    """The same aggregate without snapshots (the append figures: the append path
    alone, on both sides)."""

    snapshot_every = 0


@projection
class TallyViewProjection(Projection):
    name = "bench.tally-view"
    topics = ("bench.tally",)
    handles = (TallyAdded,)
    tables = (TallyView,)

    def apply(self, deliveries: Sequence[Delivery]) -> None:
        table = self.table(TallyView)
        ids = {d.message.tally_id for d in deliveries}
        rows = {row.tally_id: row for row in table.objects.filter(tally_id__in=ids)}
        for delivery in deliveries:
            event = delivery.message
            row = rows.get(event.tally_id) or table(
                tally_id=event.tally_id, total=0, count=0
            )
            row.total += event.amount
            row.count += 1
            row.updated_at = delivery.ctx.envelope.recorded_at
            rows[event.tally_id] = row
        table.objects.bulk_create(
            list(rows.values()),
            update_conflicts=True,
            unique_fields=["tally_id"],
            update_fields=["total", "count", "updated_at"],
        )
