"""Rebuilding a projection without downtime.

1. Build: shadow copies of the projection's tables are created and filled by a second
   instance of the projection reading the log from offset 0, in chunks, while the live
   model keeps serving reads and its subscription keeps updating it.
2. Switch: the live subscription's drain locks are taken (its updates pause; reads go
   on), the shadow catches up with the last messages, and one transaction replaces the
   live rows with the shadow's, checks the copy (row count and a content checksum
   against the fresh fold), and sets the live checkpoints to where the fold stopped.
   Readers see the old rows until that commit and the new ones after it.
3. Any failure before the commit drops the shadow tables and leaves the live model, its
   rows and its checkpoints as they were.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import cast

from django.apps.registry import Apps
from django.db import connection, models
from django.utils import timezone

from ..delivery import inbox
from ..delivery.locks import drain_lock
from ..delivery.subscriptions import Context, Delivery
from ..log import layout, reader
from ..log.unit import unit_of_work
from ..models import Checkpoint, LogEntry
from .projections import Projection

CHUNK = 5000
LOCK_ATTEMPTS = 600  # x 0.05 s: how long the switch waits for running drains


class RebuildError(RuntimeError):
    """The rebuild failed; the live model is untouched."""


@dataclass(frozen=True)
class RebuildReport:
    projection: str
    events: int
    seconds: float
    rows: dict[str, int]
    checksum: str
    changed: bool  # whether the live rows differed from the fresh fold

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def rebuild(
    projection: type[Projection],
    *,
    progress: Callable[[int], object] | None = None,
    chunk: int = CHUNK,
) -> RebuildReport:
    """Rebuild ``projection`` side by side and switch to it atomically."""
    started = time.perf_counter()
    shadows = {model: _shadow_model(model) for model in projection.tables}
    _create(shadows.values())
    try:
        builder = projection(tables=shadows)
        positions = {p: 0 for p in range(layout.partition_count())}
        events = _fold(builder, positions, progress, chunk)
        with _all_drain_locks(projection.name):
            events += _fold(builder, positions, progress, chunk)
            rows, checksum, changed = _switch(projection, shadows, positions)
    finally:
        _drop(shadows.values())
    return RebuildReport(
        projection=projection.name,
        events=events,
        seconds=time.perf_counter() - started,
        rows=rows,
        checksum=checksum,
        changed=changed,
    )


def events_to_fold(projection: type[Projection]) -> int:
    """How many log messages a rebuild reads (for a progress bar's total)."""
    return LogEntry.objects.filter(topic__in=projection.topics).count()


def _fold(
    builder: Projection,
    positions: dict[int, int],
    progress: Callable[[int], object] | None,
    chunk: int,
) -> int:
    """Apply everything between ``positions`` and the heads to the shadow tables,
    layout by layout (``events.log.layout.stages``): a key whose partition changed
    with a repartition has its older messages folded first."""
    handled_types = {t.wire_name for t in builder.handles}
    total = 0
    for bounds in layout.stages(reader.heads()):
        for partition, upto in sorted(bounds.items()):
            total += _fold_partition(
                builder, handled_types, positions, partition, upto, progress, chunk
            )
    return total


def _fold_partition(
    builder: Projection,
    handled_types: set[str],
    positions: dict[int, int],
    partition: int,
    head: int,
    progress: Callable[[int], object] | None,
    chunk: int,
) -> int:
    """One partition from its position up to ``head``; how many messages read."""
    total = 0
    positions.setdefault(partition, 0)
    while positions[partition] < head:
        batch = reader.read(
            partition,
            after=positions[partition],
            upto=head,
            topics=builder.topics,
            limit=chunk,
        )
        end = head if len(batch) < chunk else batch[-1].offset
        deliveries = [
            Delivery(e.message(), Context(builder.name, e))
            for e in batch
            if e.type in handled_types
        ]
        with unit_of_work():
            builder.apply(deliveries)
        positions[partition] = end
        total += len(batch)
        if progress is not None:
            progress(len(batch))
    return total


def _switch(
    projection: type[Projection],
    shadows: dict[type[models.Model], type[models.Model]],
    positions: dict[int, int],
) -> tuple[dict[str, int], str, bool]:
    with unit_of_work():
        changed = False
        rows = {}
        digest = hashlib.sha256()
        for live, shadow in shadows.items():
            fresh_count, fresh_sum = _checksum(shadow)
            changed |= _checksum(live) != (fresh_count, fresh_sum)
            _copy(shadow, live)
            if _checksum(live) != (fresh_count, fresh_sum):
                raise RebuildError(
                    f"{live._meta.db_table}: the copy does not match the fresh fold"
                )
            rows[live._meta.db_table] = fresh_count
            digest.update(fresh_sum.encode())
        for partition, position in positions.items():
            _set_checkpoint(projection.name, partition, position)
    return rows, digest.hexdigest()[:16], changed


def _set_checkpoint(subscription: str, partition: int, position: int) -> None:
    Checkpoint.objects.update_or_create(
        subscription=subscription,
        partition=partition,
        defaults={
            "position": position,
            "failing_offset": None,
            "failing_since": None,
            "attempts": 0,
            "retry_at": None,
            "last_error": "",
            "updated_at": timezone.now(),
        },
    )
    inbox.forget_after(subscription, partition, position)


def _checksum(model: type[models.Model]) -> tuple[int, str]:
    """Row count and a digest of every row's values, in primary-key order."""
    fields = [f.attname for f in model._meta.concrete_fields]
    digest = hashlib.sha256()
    count = 0
    for row in (
        model._default_manager.order_by("pk")
        .values_list(*fields)
        .iterator(chunk_size=5000)
    ):
        digest.update(repr(row).encode())
        count += 1
    return count, digest.hexdigest()


def _copy(source: type[models.Model], target: type[models.Model]) -> None:
    quote = connection.ops.quote_name
    columns = ", ".join(  # a concrete field has a column
        quote(cast(str, f.column)) for f in target._meta.concrete_fields
    )
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {quote(target._meta.db_table)}")
        cursor.execute(
            f"INSERT INTO {quote(target._meta.db_table)} ({columns}) "
            f"SELECT {columns} FROM {quote(source._meta.db_table)}"
        )


@contextmanager
def _all_drain_locks(subscription: str) -> Iterator[None]:
    """Hold every partition's drain lock of the live subscription (waiting for running
    drains to finish their batch), so the switch and its checkpoints cannot race."""
    with ExitStack() as stack:
        for partition in range(layout.partition_count()):
            for _ in range(LOCK_ATTEMPTS):
                held = stack.enter_context(drain_lock(subscription, partition))
                if held:
                    break
                time.sleep(0.05)
            else:
                raise RebuildError(
                    f"{subscription} p{partition} stayed busy; try the rebuild again"
                )
        yield


def _shadow_model(model: type[models.Model]) -> type[models.Model]:
    """A copy of ``model`` on table ``<table>__rebuild``, in a private app registry (the
    project's registry never sees it). Secondary indexes are left out (faster to fill);
    unique constraints are kept, renamed, since upserts rely on them."""
    table = f"{model._meta.db_table}__rebuild"
    constraints = []
    for constraint in model._meta.constraints:
        copy = constraint.clone()
        copy.name = f"{constraint.name}_rb"
        constraints.append(copy)
    meta = type(
        "Meta",
        (),
        {
            "db_table": table,
            "app_label": model._meta.app_label,
            "apps": Apps(),
            "constraints": constraints,
        },
    )
    attrs: dict[str, object] = {"__module__": __name__, "Meta": meta}
    for field in model._meta.concrete_fields:
        attrs[field.name] = field.clone()
    name = f"{model.__name__}Rebuild{uuid.uuid4().hex[:8]}"
    return type(name, (models.Model,), attrs)


def _create(shadows: Iterable[type[models.Model]]) -> None:
    tables = set(connection.introspection.table_names())
    with connection.schema_editor() as editor:
        for shadow in shadows:
            if shadow._meta.db_table in tables:  # left by a rebuild that was killed
                editor.delete_model(shadow)
            editor.create_model(shadow)


def _drop(shadows: Iterable[type[models.Model]]) -> None:
    with connection.schema_editor() as editor:
        for shadow in shadows:
            editor.delete_model(shadow)
