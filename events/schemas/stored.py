"""``events schemas check --stored``: can today's code read the history in this
database?

Run it against production before a deploy (with the new code): it finds every
distinct (type, version) in the log, in the parked dead letters (the ones a redrive
reads) and in the snapshots, and reads a sample of each through the code and its
upcasters, exactly as delivery, redrive and ``aggregates.load`` would. A type no code
declares, a version newer than the code, an upcaster that raises or a payload the
current model refuses is a failure, named with a row id.

A snapshot of another schema than its aggregate's current ``snapshot_version`` is
never read (loads fold the stream instead), so it is reported, not failed. The sample
is the oldest rows of each group (``sample=0``: every row); the grouping query reads
each table once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from django.db.models import Count, F, QuerySet, Window
from django.db.models.functions import RowNumber

from ..messages import decode, message_type
from ..models import DeadLetter, LogEntry, Snapshot
from .sources import aggregates

Source = Literal["log", "dead letters", "snapshots"]


@dataclass
class Group:
    """One (type, version) found in one table, and what reading it gave."""

    source: Source
    type: str  # a wire name; for snapshots the aggregate's class name
    version: int  # the message version; for snapshots the snapshot schema
    rows: int
    sampled: int = 0
    failures: list[tuple[int, str]] = field(default_factory=list)
    note: str = ""

    @property
    def readable(self) -> bool:
        return not self.failures

    @property
    def name(self) -> str:
        """``log orders.OrderPlaced v1``, ``snapshots Order schema 3``."""
        version = f"schema {self.version}" if self.source == "snapshots" else "v"
        if version == "v":
            version = f"v{self.version}"
        return f"{self.source} {self.type} {version}"

    def __str__(self) -> str:
        what = self.name
        rows = f"{self.rows} row{'s' if self.rows != 1 else ''}"
        if self.failures:
            row_id, error = self.failures[0]
            return (
                f"{what}: {len(self.failures)} of {self.sampled} sampled rows cannot "
                f"be read ({rows}), e.g. row {row_id}: {error}"
            )
        if not self.sampled and self.note:  # never read by this code: nothing to try
            return f"{what}: {rows}, {self.note}"
        tail = f", {self.note}" if self.note else ""
        return f"{what}: {rows}, {self.sampled} sampled, readable{tail}"


def check(*, sample: int = 50) -> list[Group]:
    """Every group of every source, failures first."""
    groups = [
        *_messages("log", LogEntry.objects.all(), sample),
        *_messages(
            "dead letters",
            DeadLetter.objects.filter(status=DeadLetter.Status.PARKED),
            sample,
        ),
        *_snapshots(sample),
    ]
    return sorted(groups, key=lambda g: (g.readable, g.source, g.type, g.version))


def _groups(
    rows: QuerySet[Any], type_field: str, version_field: str
) -> Iterable[tuple[str, int, int]]:
    """(type, version, count) per group; the fields are named at run time, so the
    Django plugin types the query as Any."""
    groups: Iterable[tuple[str, int, int]] = (
        rows.values_list(type_field, version_field)
        .annotate(n=Count("id"))
        .order_by(type_field, version_field)
    )
    return groups


def _sampled(
    rows: QuerySet[Any], type_field: str, version_field: str, value: str, sample: int
) -> Iterable[tuple[Any, ...]]:
    """The oldest ``sample`` rows of every group, in one query (a window function)."""
    if sample:
        rows = rows.annotate(
            nth=Window(
                RowNumber(),
                partition_by=[F(type_field), F(version_field)],
                order_by=F("id").asc(),
            )
        ).filter(nth__lte=sample)
    return rows.values_list("id", type_field, version_field, value).iterator(
        chunk_size=2000
    )


def _messages(source: Source, rows: QuerySet[Any], sample: int) -> list[Group]:
    found = {
        (t, v): Group(source, t, v, n) for t, v, n in _groups(rows, "type", "version")
    }

    def read(type_name: str, version: int, payload: Any) -> None:
        decode(type_name, version, payload)

    _read_samples(found, _sampled(rows, "type", "version", "payload", sample), read)
    for (type_name, version), group in found.items():
        if not group.failures and group.sampled:
            group.note = _read_as(type_name, version)
    return list(found.values())


def _read_as(type_name: str, version: int) -> str:
    current = message_type(type_name).version
    return f"read as v{current}" if current != version else ""


def _snapshots(sample: int) -> list[Group]:
    rows = Snapshot.objects.all()
    found = {
        (a, s): Group("snapshots", a, s, n)
        for a, s, n in _groups(rows, "aggregate", "schema")
    }
    classes = aggregates()
    readable = {}
    for (name, schema), group in found.items():
        cls = classes.get(name)
        if cls is None:
            group.note = f"not read: no aggregate class {name} is declared"
        elif schema != cls.snapshot_version:
            group.note = (
                f"not read: loads use schema {cls.snapshot_version} and fold the "
                "stream instead"
            )
        else:
            readable[(name, schema)] = group

    def read(name: str, schema: int, state: Any) -> None:
        classes[name].State.model_validate(state)

    wanted = rows.filter(aggregate__in=sorted({a for a, _ in readable}))
    samples = (
        row
        for row in _sampled(wanted, "aggregate", "schema", "state", sample)
        if (row[1], row[2]) in readable
    )
    _read_samples(readable, samples, read)
    return list(found.values())


def _read_samples(
    groups: dict[tuple[str, int], Group],
    samples: Iterable[tuple[Any, ...]],
    read: Callable[[str, int, Any], None],
) -> None:
    for row_id, type_name, version, value in samples:
        group = groups[(type_name, version)]
        group.sampled += 1
        try:
            read(type_name, version, value)
        except Exception as error:  # whatever a reader would hit is the finding
            group.failures.append((row_id, _error_text(error)))


def _error_text(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    text = " ".join(line.strip() for line in lines[:3])
    return f"{type(error).__name__}: {text}"
