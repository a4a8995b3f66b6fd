"""The benchmark's tables: the rows a projection writes, and handler timestamps."""

from __future__ import annotations

from django.db import models


class Row(models.Model):
    """One row per handled message, as a projection writes it; the INSERT baselines
    write the same columns, so the two are comparable."""

    message_id = models.UUIDField()
    key = models.CharField(max_length=100)
    value = models.IntegerField()

    class Meta:
        db_table = "bench_row"

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class Handled(models.Model):
    """When (``time.time()`` in the handler) a latency message was handled."""

    message_id = models.UUIDField(primary_key=True)
    handled_at = models.FloatField()

    class Meta:
        db_table = "bench_handled"

    def __str__(self) -> str:
        return f"{self.message_id} at {self.handled_at}"


class TallyView(models.Model):
    """The event-store benchmark's projection: one row per tally, its running total
    and count (``bench.app.tally.TallyViewProjection`` owns it)."""

    tally_id = models.UUIDField(unique=True)
    total = models.BigIntegerField()
    count = models.BigIntegerField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "bench_tally_view"

    def __str__(self) -> str:
        return f"{self.tally_id}: {self.total} ({self.count})"
