"""The partition layout: how many partitions the log has, kept in the database so that
every process agrees, and raised on a live shop without breaking any key's order.

A key's partition is ``crc32(key) mod count``, so raising the count moves keys: with 8
to 16, a key of partition 3 stays there or goes to 11. Its older messages stay where
they were written. Order per key is kept by two rules:

* **One cut.** Writers read the count when they take offsets, under a shared lock
  held to their commit (:func:`count_for_write`); :func:`cut` takes the lock
  exclusive, so it waits for the writers in flight to commit and holds new ones back
  for the few milliseconds it takes to read the old partitions' heads (the *fences*),
  record them and set the new count. Every message is then wholly of the old layout
  (at or below its partition's fence) or of the new one (above it).
* **Gates.** A subscription reads a partition's offsets above its fence only once it
  has delivered, in each partition that keys of it came from (the *feeders*), every
  message up to that partition's fence (:class:`Gate`, checked by the drain's
  ``events.delivery.checkpoints.where`` in the same query as the head). Writes never
  wait for delivery: new messages accumulate in the log while the old layout drains.

Pausing the writers until every subscription had drained (the obvious order) cannot
work here: a delivery writes to the log too (a saga sends its next command), so the
drain would wait for the writers' lock it holds back. The count only ever rises:
lowering it would merge partitions whose offsets cannot be interleaved in order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from ..models import PartitionCut, PartitionGate, PartitionHead, PartitionLayout

# The advisory lock of the layout (single 64-bit key: a key space apart from the drain
# locks' two 32-bit keys, https://www.postgresql.org/docs/15/functions-admin.html).
LAYOUT_LOCK = 0x6576_656E_7473_4C59  # "eventsLY"
MAX_PARTITIONS = 32767  # the partition columns are smallint

# count_for_write() on PostgreSQL calls events_partitions_for_write(seed), created by
# migration 0009: PERFORM pg_advisory_xact_lock_shared(LAYOUT_LOCK), then the count
# read by a statement of its own (``seed`` while the row is missing). A
# VOLATILE function's statements each take a fresh snapshot, so the count is the one
# committed before the lock was granted, even when this writer waited behind a cut
# (https://www.postgresql.org/docs/15/xfunc-volatility.html).


class LayoutError(RuntimeError):
    """The layout cannot be changed as asked; nothing was changed."""


class LayoutBusy(LayoutError):
    """Writers kept the layout lock longer than the pause allowed; nothing changed."""


def partition_count() -> int:
    """The current count, read without a lock: for sweeps, status, replay, prune. A
    reader that sees the count of a moment ago only misses partitions that are new,
    and its next look finds them. ``EVENTS_PARTITIONS`` only seeds a new database."""
    value = (
        PartitionLayout.objects.filter(id=1)
        .values_list("partitions", flat=True)
        .first()
    )
    return value or settings.EVENTS_PARTITIONS


def count_for_write() -> int:
    """The count a writer uses, held until its transaction ends (call it inside one,
    just before taking offsets). PostgreSQL: the layout's shared lock and the count in
    one round trip. SQLite, which has one writer at a time: a no-op UPDATE takes the
    database's write lock and returns the count."""
    seed = settings.EVENTS_PARTITIONS
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT events_partitions_for_write(%s)", [seed])
            return int(cursor.fetchone()[0])
        cursor.execute(
            "UPDATE events_partition_layout SET partitions = partitions "
            "WHERE id = 1 RETURNING partitions"
        )
        row = cursor.fetchone()
    return seed if row is None else int(row[0])


def ensure_layout(*, using: str = "default", **_: object) -> None:
    """Receiver of ``post_migrate`` (``EventsConfig.ready()``): the layout row, from
    ``EVENTS_PARTITIONS``, when it is missing (a new database, or one a test flushed;
    migration 0009 seeds an existing shop's). Writers never create it: two first
    writers racing to insert it would wait for each other's commit."""
    PartitionLayout.objects.using(using).get_or_create(
        id=1,
        defaults={
            "partitions": settings.EVENTS_PARTITIONS,
            "generation": 1,
            "changed_at": timezone.now(),
        },
    )


def feeders(before: int, after: int, partition: int) -> list[int]:
    """The old partitions some of whose keys move to ``partition``.

    A key of hash h goes from h mod ``before`` to h mod ``after``; by the Chinese
    remainder theorem both residues p and q occur together iff p = q (mod gcd). crc32
    takes all 2^32 values, more than lcm(before, after) for counts up to 32767, so
    every such pair is some key's."""
    step = math.gcd(before, after)
    return list(range(partition % step, before, step))


def staying_share(before: int, after: int) -> float:
    """The share of keys whose partition does not change (h mod lcm < before)."""
    return before / math.lcm(before, after)


@dataclass(frozen=True)
class Gate:
    """In ``partition``, offsets above ``upto`` wait until the subscription's
    checkpoint in ``feeder`` has reached ``feeder_fence``."""

    partition: int
    upto: int
    feeder: int
    feeder_fence: int


def plan_gates(before: int, after: int, fences: dict[int, int]) -> list[Gate]:
    """The gates of a raise from ``before`` to ``after`` with these fences (every
    partition's head at the cut). A feeder that is the partition itself needs none
    (offset order covers it), nor one whose old layout is empty."""
    return [
        Gate(q, fences.get(q, 0), p, fences[p])
        for q in range(after)
        for p in feeders(before, after, q)
        if p != q and fences.get(p, 0) > 0
    ]


def gates() -> dict[int, list[Gate]]:
    """Every gate of every cut, by partition (a handful of rows per partition)."""
    found: dict[int, list[Gate]] = {}
    rows = PartitionGate.objects.values_list(
        "partition", "upto", "feeder", "feeder_fence"
    )
    for row in rows:
        found.setdefault(row[0], []).append(Gate(*row))
    return found


def readable(
    partition: int, head: int, gates: Iterable[Gate], position: Callable[[int], int]
) -> int:
    """How far a subscription may read ``partition`` now: its head, or the lowest
    ``upto`` of a gate whose feeder it has not passed (``position(feeder)``: its
    checkpoint there)."""
    limit = head
    for gate in gates:
        if gate.partition == partition and position(gate.feeder) < gate.feeder_fence:
            limit = min(limit, gate.upto)
    return limit


def stages(current: dict[int, int]) -> list[dict[int, int]]:
    """Upper bounds to read the whole log in, layout by layout (a rebuild's order):
    every partition up to the first cut's fences, then the next cut's, then the
    ``current`` heads. Within a stage, any partition order keeps every key's order."""
    bounds = [
        {int(p): offset for p, offset in cut.fences.items()}
        for cut in PartitionCut.objects.order_by("generation")
    ]
    return [*bounds, current]


@dataclass(frozen=True)
class Cut:
    generation: int
    before: int
    after: int
    fences: dict[int, int]
    cut_at: datetime
    gates: list[Gate]


def latest_cut() -> PartitionCut | None:
    return PartitionCut.objects.order_by("-generation").first()


def cut(
    partitions: int,
    *,
    pause_timeout: float,
    check: Callable[[PartitionLayout], None] | None = None,
    inside: Callable[[Cut], None] | None = None,
) -> Cut:
    """Raise the count to ``partitions`` in one transaction: take the layout lock
    exclusive (waiting at most ``pause_timeout`` seconds for the writers in flight;
    LayoutBusy then, and nothing changed), run ``check`` on the current layout (it
    raises LayoutError to refuse), read every partition's head (final: nobody holds
    offsets now), record the cut and its gates, set the count and run ``inside`` on
    the cut (still in the transaction: nothing is written to the new partitions before
    it commits). The writers held back resume on the new count when it commits."""
    if not 0 < partitions <= MAX_PARTITIONS:
        raise LayoutError(f"the count must be between 1 and {MAX_PARTITIONS}")
    with transaction.atomic(durable=True):
        _lock_exclusive(pause_timeout)
        layout = _current_layout()
        if partitions <= layout.partitions:
            raise LayoutError(
                f"the log has {layout.partitions} partitions; the count can only be "
                f"raised (asked: {partitions})"
            )
        if check is not None:
            check(layout)
        found = dict(PartitionHead.objects.values_list("partition", "last_offset"))
        fences = {p: found.get(p, 0) for p in range(partitions)}
        planned = plan_gates(layout.partitions, partitions, fences)
        now = timezone.now()
        generation = layout.generation + 1
        PartitionCut.objects.create(
            generation=generation,
            partitions_before=layout.partitions,
            partitions=partitions,
            fences={str(p): offset for p, offset in fences.items()},
            cut_at=now,
        )
        PartitionGate.objects.bulk_create(
            PartitionGate(
                generation=generation,
                partition=g.partition,
                upto=g.upto,
                feeder=g.feeder,
                feeder_fence=g.feeder_fence,
            )
            for g in planned
        )
        before = layout.partitions
        layout.partitions, layout.generation, layout.changed_at = (
            partitions,
            generation,
            now,
        )
        layout.save()
        done = Cut(generation, before, partitions, fences, now, planned)
        if inside is not None:
            inside(done)
    return done


def _lock_exclusive(timeout: float) -> None:
    """PostgreSQL: the advisory lock, exclusive, bounded by ``lock_timeout``; writers
    that ask for it meanwhile queue behind this request. SQLite: the database's write
    lock, taken by the no-op UPDATE of :func:`count_for_write`."""
    if connection.vendor != "postgresql":
        count_for_write()
        return
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{max(int(timeout * 1000), 1)}ms'")
        try:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LAYOUT_LOCK])
        except OperationalError as error:
            raise LayoutBusy(
                f"writers held the log for more than {timeout:g} s (a transaction "
                "that published and stayed open?); nothing was changed"
            ) from error
        cursor.execute("SET LOCAL lock_timeout TO DEFAULT")


def _current_layout() -> PartitionLayout:
    ensure_layout()
    return PartitionLayout.objects.select_for_update().get(id=1)
