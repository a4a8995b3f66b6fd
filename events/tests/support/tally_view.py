"""A projection of the test aggregate's events (declared once, at import)."""

from collections.abc import Sequence

from events.delivery.subscriptions import Delivery
from events.store.projections import Projection, projection
from tests.effects.models import TallyView

from .tally import Tallied


@projection
class TallyViewProjection(Projection):
    name = "t.tally-view"
    topics = ("t.tally",)
    handles = (Tallied,)
    tables = (TallyView,)
    broken_on: int | None = None  # an amount that makes apply fail (tests)

    def apply(self, deliveries: Sequence[Delivery]) -> None:
        table = self.table(TallyView)
        ids = {d.message.tally_id for d in deliveries}
        rows = {row.tally_id: row for row in table.objects.filter(tally_id__in=ids)}
        for delivery in deliveries:
            event = delivery.message
            if event.amount == self.broken_on:
                raise ValueError(f"cannot apply {event.amount}")
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
