"""Raising the partition count of a live shop: the plan, its refusals, the cut and the
wait for every subscription to drain the old layout.

The mechanism is ``events.log.layout`` (the count in the database, the writers' lock,
the cut, the gates); this module decides whether to use it now. It refuses, with the
reason and nothing changed, when the count would not rise, when an earlier raise has
not settled, when a subscription is retrying a message or is further behind than
``max_lag`` (its keys that move would wait behind it: the gates keep order, not
speed), and when the writers in flight do not let the cut in within the pause.

After the cut, writes go on at once on the new count; :func:`wait_settled` follows
the subscriptions until each has delivered every message of the old layout (the
gates then never hold anything back again) and records the cut as settled.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db.models import Q
from django.utils import timezone

from ..delivery import checkpoints
from ..delivery.checkpoints import Target
from ..delivery.subscriptions import registry
from ..log import layout
from ..models import Checkpoint, LogEntry, PartitionCut

DEFAULT_MAX_LAG = 10_000  # messages behind, per subscription
DEFAULT_PAUSE_SECONDS = 2.0  # the longest the cut may hold writers back
DEFAULT_TIMEOUT_SECONDS = 600.0  # the longest the command follows the drain


class RepartitionRefused(RuntimeError):
    """The repartition cannot proceed now; nothing was changed."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass(frozen=True)
class Standing:
    """A subscription as the plan found it."""

    subscription: str
    lag: int  # messages it handles past its checkpoints (as events status counts)
    retrying: list[str]  # "p3@120 (attempt 2): error", one per partition


@dataclass(frozen=True)
class Plan:
    """What a repartition to ``after`` would do now, and why it would refuse."""

    before: int
    after: int
    generation: int  # the layout's generation now
    staying: float  # share of keys that keep their partition
    moves: dict[int, list[int]]  # partition -> the other old partitions feeding it
    standings: list[Standing]
    refusals: list[str] = field(default_factory=list)


def plan(partitions: int, *, max_lag: int = DEFAULT_MAX_LAG) -> Plan:
    """Read the layout, the last cut and every subscription; nothing is written
    except an earlier cut found settled (its ``settled_at``)."""
    before = layout.partition_count()
    refusals = []
    if partitions <= before:
        refusals.append(
            f"the log has {before} partitions; the count can only be raised "
            f"(asked: {partitions}): lowering it would merge partitions whose "
            "offsets cannot be interleaved in order"
        )
    elif partitions > layout.MAX_PARTITIONS:
        refusals.append(f"at most {layout.MAX_PARTITIONS} partitions")
    last = layout.latest_cut()
    if last is not None and last.settled_at is None:
        left = {name: n for name, n in remaining(last).items() if n}
        if left:
            refusals.append(
                f"the raise from {last.partitions_before} to {last.partitions} "
                f"partitions at {last.cut_at:%Y-%m-%d %H:%M:%S} has not settled: "
                + describe(left)
            )
        else:
            mark_settled(last)
    standings = _standings()
    for standing in standings:
        if standing.retrying:
            refusals.append(
                f"{standing.subscription} is retrying {', '.join(standing.retrying)}: "
                "its keys that move would wait behind it; let it succeed or park it "
                "(events deadletters) first"
            )
        if standing.lag > max_lag:
            refusals.append(
                f"{standing.subscription} is {standing.lag} messages behind (more "
                f"than --max-lag {max_lag}): its keys that move would wait until it "
                "has caught up"
            )
    after = max(partitions, 1)
    moves = {
        q: [p for p in layout.feeders(before, after, q) if p != q] for q in range(after)
    }
    generation = _generation(last)
    return Plan(
        before=before,
        after=partitions,
        generation=generation,
        staying=layout.staying_share(before, after) if after > before else 1.0,
        moves={q: ps for q, ps in moves.items() if ps},
        standings=standings,
        refusals=refusals,
    )


def _generation(last: PartitionCut | None) -> int:
    return 1 if last is None else last.generation


def _standings() -> list[Standing]:
    """Every subscription's lag (the messages it handles past its checkpoints, one
    query each: those it only passes cost its drain nothing, and ``events status``
    counts the same) and the messages it is retrying (one query for all)."""
    found = list(Checkpoint.objects.all())
    positions = {(c.subscription, c.partition): c.position for c in found}
    retrying: dict[str, list[str]] = {}
    for c in found:
        if c.failing_offset is not None:
            retrying.setdefault(c.subscription, []).append(
                f"p{c.partition}@{c.failing_offset}: {c.last_error[:80]}"
            )
    count = layout.partition_count()
    standings = []
    for subscription in registry.all():
        behind = Q()
        for partition in range(count):
            position = positions.get((subscription.name, partition))
            if position is None:
                position = checkpoints.initial_position(subscription, partition)
            behind |= Q(partition=partition, offset__gt=position)
        lag = LogEntry.objects.filter(
            behind, topic__in=subscription.topics, type__in=subscription.handled_types
        )
        standings.append(
            Standing(
                subscription=subscription.name,
                lag=lag.count(),
                retrying=retrying.get(subscription.name, []),
            )
        )
    return standings


def _ensure_checkpoints(partitions: int) -> None:
    """Every subscription gets a checkpoint in every old partition, at its start, so
    that no gate ever waits for a feeder checkpoint no drain has created yet."""
    existing = set(Checkpoint.objects.values_list("subscription", "partition"))
    Checkpoint.objects.bulk_create(
        [
            Checkpoint(
                subscription=subscription.name,
                partition=partition,
                position=checkpoints.initial_position(subscription, partition),
            )
            for subscription in registry.all()
            for partition in range(partitions)
            if (subscription.name, partition) not in existing
        ],
        ignore_conflicts=True,
    )


def switch(
    partitions: int,
    *,
    max_lag: int = DEFAULT_MAX_LAG,
    pause_timeout: float = DEFAULT_PAUSE_SECONDS,
) -> layout.Cut:
    """Check the plan, then cut: raises RepartitionRefused (nothing changed) or
    returns the cut, after which writes go to ``partitions`` partitions."""
    found = plan(partitions, max_lag=max_lag)
    if found.refusals:
        raise RepartitionRefused(found.refusals)
    _ensure_checkpoints(found.before)

    def unchanged(current: object) -> None:
        if _generation(layout.latest_cut()) != found.generation:
            raise layout.LayoutError("another repartition ran meanwhile")

    try:
        return layout.cut(
            partitions,
            pause_timeout=pause_timeout,
            check=unchanged,
            inside=_start_new_partitions,
        )
    except layout.LayoutError as error:
        raise RepartitionRefused([str(error)]) from error


def _start_new_partitions(cut: layout.Cut) -> None:
    """Every subscription's checkpoint in the new partitions, at their heads at the
    cut (0), in the cut's transaction: one that starts at ``latest`` would otherwise
    be created at the head its first drain sees, past what was written meanwhile."""
    Checkpoint.objects.bulk_create(
        [
            Checkpoint(
                subscription=subscription.name,
                partition=partition,
                position=cut.fences[partition],
            )
            for subscription in registry.all()
            for partition in range(cut.before, cut.after)
        ],
        ignore_conflicts=True,
    )


def unsettled() -> PartitionCut | None:
    """The last cut if it has not been recorded as settled yet."""
    last = layout.latest_cut()
    return last if last is not None and last.settled_at is None else None


def remaining(cut: PartitionCut) -> dict[str, int]:
    """Per subscription, the offsets of the old layout it has still to pass (0 once
    it has delivered every old partition up to its fence)."""
    fences = {
        int(p): offset
        for p, offset in cut.fences.items()
        if int(p) < cut.partitions_before and offset > 0
    }
    positions = {
        (name, partition): position
        for name, partition, position in Checkpoint.objects.filter(
            partition__in=list(fences)
        ).values_list("subscription", "partition", "position")
    }
    left = {}
    for subscription in registry.all():
        unseen = 0 if subscription.start != "latest" else checkpoints.PAST_EVERY_FENCE
        left[subscription.name] = sum(
            max(0, fence - positions.get((subscription.name, p), unseen))
            for p, fence in fences.items()
        )
    return left


def describe(left: dict[str, int]) -> str:
    """``remaining`` in words."""
    return ", ".join(
        f"{name} has {n} messages of the old layout left" for name, n in left.items()
    )


def mark_settled(cut: PartitionCut) -> None:
    PartitionCut.objects.filter(
        generation=cut.generation, settled_at__isnull=True
    ).update(settled_at=timezone.now())


def wait_settled(
    generation: int,
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    poll: float = 0.2,
    progress: Callable[[int], None] | None = None,
    wake: Callable[[Iterable[Target]], None] | None = None,
) -> dict[str, int]:
    """Follow the drain of the old layout until every subscription has passed the
    fences (then mark the cut settled and return ``{}``) or ``timeout`` seconds have
    passed (return what is left). ``progress`` gets the total left at each look;
    ``wake`` is asked at the first look for every target behind (a subscription
    whose checkpoint stopped below a fence, on messages of topics it does not read,
    would otherwise move only at the next sweep), then once for each target whose
    gate has opened, so that its waiting messages do not wait for a commit."""
    cut = PartitionCut.objects.get(generation=generation)
    fences = {int(p): offset for p, offset in cut.fences.items()}
    gated = {
        gate.partition
        for gate in layout.plan_gates(cut.partitions_before, cut.partitions, fences)
    }
    woken: set[Target] | None = None
    deadline = time.monotonic() + timeout
    while True:
        left = remaining(cut)
        if progress is not None:
            progress(sum(left.values()))
        if wake is not None:
            behind = set(checkpoints.behind_targets())
            if woken is None:
                woken = {target for target in behind if target[1] in gated}
                wake(sorted(behind))
            elif opened := {t for t in behind if t[1] in gated} - woken:
                woken |= opened
                wake(sorted(opened))
        if not any(left.values()):
            mark_settled(cut)
            return {}
        if time.monotonic() > deadline:
            return {name: n for name, n in left.items() if n}
        time.sleep(poll)
