"""What the admin's Event catalog shows: each message type with its versions and
schemas, producer, consumers, and live figures.

The types and the current schemas come from the code; older versions' schemas from
the committed registry (so a catalog shows the shapes stored messages may have), when
it can be read. Types found in the log that no code declares are listed apart: they
are what ``events schemas check --stored`` would fail on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from . import figures, registry, sources
from .model import MessageSpec, Schema
from .registry import Registry


@dataclass(frozen=True)
class Consumer:
    subscription: str
    app: str
    role: str
    lag: int  # messages of this type it has not handled yet


@dataclass
class Entry:
    spec: MessageSpec
    schemas: dict[int, Schema]
    in_log: dict[int, int]  # version -> messages in the log
    consumers: list[Consumer]
    dead_letters: dict[str, int] = field(default_factory=dict)  # subscription -> n

    @property
    def name(self) -> str:
        return self.spec.type

    @property
    def messages_in_log(self) -> int:
        return sum(self.in_log.values())

    @property
    def lag(self) -> int:
        return sum(c.lag for c in self.consumers)

    @property
    def parked(self) -> int:
        return sum(self.dead_letters.values())

    @property
    def upcasters(self) -> list[int]:
        return sorted(self.spec.upcasters)

    @property
    def in_log_by_version(self) -> list[tuple[int, int]]:
        """(version, messages), oldest version first; a version without a schema in
        the registry (stored before the registry began) is listed too."""
        return sorted(self.in_log.items())

    def versions(self) -> list[dict[str, object]]:
        """Newest first: version, schema as indented JSON, messages in the log."""
        return [
            {
                "version": v,
                "current": v == self.spec.version,
                "schema": json.dumps(self.schemas[v], indent=2, ensure_ascii=False),
                "in_log": self.in_log.get(v, 0),
            }
            for v in sorted(self.schemas, reverse=True)
        ]


@dataclass(frozen=True)
class Stray:
    """A (type, version) in the log that no code declares."""

    type: str
    version: int
    messages: int


def _registry() -> Registry:
    contract = sources.current()
    try:
        committed = registry.load(registry.docs_dir())
    except registry.RegistryError:
        committed = None  # the catalog still shows the code's own schemas
    merged = registry.merge(committed, contract)
    return merged


def entries() -> tuple[list[Entry], list[Stray]]:
    reg = _registry()
    live = reg.live()
    counts = figures.log_counts()
    lag = figures.lag_by_type(reg.subscriptions.values())
    parked = figures.parked_dead_letters()
    out = []
    for name, kept in live.items():
        consumers = [
            Consumer(
                subscription=s,
                app=reg.subscriptions[s].app,
                role=reg.subscriptions[s].role,
                lag=lag.get((s, name), 0),
            )
            for s in kept.spec.consumers
            if s in reg.subscriptions
        ]
        out.append(
            Entry(
                spec=kept.spec,
                schemas=kept.schemas,
                in_log={v: n for (t, v), n in counts.items() if t == name},
                consumers=consumers,
                dead_letters=parked.get(name, {}),
            )
        )
    strays = [
        Stray(type=t, version=v, messages=n)
        for (t, v), n in sorted(counts.items())
        if t not in live
    ]
    return out, strays


def entry(name: str) -> Entry | None:
    return next((e for e in entries()[0] if e.name == name), None)
