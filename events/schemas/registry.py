"""The committed schema registry: ``docs/events/index.json`` and one JSON Schema per
message type and version (``docs/events/schemas/<wire name>.v<n>.json``).

The registry is history as well as the present: exporting writes the current
version's schema of every type and keeps the files of older versions (the shapes
stored messages may still have), and a type taken out of the code stays in the index
as ``retired`` once its name is retired on purpose, so the name is never reused. Files
are written with fixed indentation and key order, so a review shows a contract change
as a small diff and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from django.conf import settings

from .model import Contract, MessageSpec, SagaSpec, Schema, StepSpec, SubscriptionSpec

INDEX = Path("events") / "index.json"
SCHEMAS = Path("events") / "schemas"
FORMAT = 1


def docs_dir() -> Path:
    """Where the committed registry lives (``EVENTS_SCHEMAS_DIR``, the docs folder)."""
    return Path(getattr(settings, "EVENTS_SCHEMAS_DIR", "docs"))


class RegistryError(ValueError):
    """The committed registry cannot be read, or an export request is wrong."""


@dataclass(frozen=True)
class Entry:
    """A message type in the registry: its current spec, the schema of every version
    kept, and whether its name was retired (then ``spec`` is its last state)."""

    spec: MessageSpec
    schemas: dict[int, Schema]
    retired: bool = False

    @property
    def versions(self) -> list[int]:
        return sorted(self.schemas)


@dataclass(frozen=True)
class Registry:
    messages: dict[str, Entry]
    subscriptions: dict[str, SubscriptionSpec] = field(default_factory=dict)
    sagas: dict[str, SagaSpec] = field(default_factory=dict)

    def live(self) -> dict[str, Entry]:
        """The types not retired."""
        return {n: e for n, e in self.messages.items() if not e.retired}

    def topics(self) -> list[str]:
        return sorted({e.spec.topic for e in self.live().values()})


def schema_path(wire_name: str, version: int) -> Path:
    return SCHEMAS / f"{wire_name}.v{version}.json"


def merge(
    previous: Registry | None, contract: Contract, *, retire: Iterable[str] = ()
) -> Registry:
    """The registry after an export of ``contract`` over ``previous``: current
    schemas replace those of the same version, older versions are kept, and types
    missing from the code are kept as retired (the caller refuses an export that
    drops a type without ``retire`` naming it: see ``compatibility``)."""
    retire = set(retire)
    still_declared = retire & contract.messages.keys()
    if still_declared:
        raise RegistryError(
            f"cannot retire {', '.join(sorted(still_declared))}: still declared in "
            "the code"
        )
    old = previous.messages if previous else {}
    unknown = retire - old.keys()
    if unknown:
        raise RegistryError(
            f"cannot retire {', '.join(sorted(unknown))}: not in the registry"
        )
    messages: dict[str, Entry] = {}
    for name in sorted(old.keys() | contract.messages.keys()):
        spec = contract.messages.get(name)
        kept = old.get(name)
        if spec is None:
            messages[name] = replace(old[name], retired=True)  # in old: not declared
            continue
        schemas = dict(kept.schemas) if kept else {}
        schemas = {v: s for v, s in schemas.items() if v < spec.version}
        schemas[spec.version] = spec.schema
        messages[name] = Entry(spec=replace(spec, cls=None), schemas=schemas)
    return Registry(
        messages=messages,
        subscriptions=dict(contract.subscriptions),
        sagas=dict(contract.sagas),
    )


# -- reading ------------------------------------------------------------------------


def load(root: Path) -> Registry | None:
    """The registry committed under ``root`` (the docs folder), or None."""
    index_path = root / INDEX
    if not index_path.exists():
        return None
    try:
        index = json.loads(index_path.read_text())
        if index.get("format") != FORMAT:
            raise RegistryError(f"format {index.get('format')!r}, expected {FORMAT}")
        messages = {
            name: _entry(root, name, data) for name, data in index["messages"].items()
        }
        subscriptions = {
            name: SubscriptionSpec(
                name=name,
                app=d["app"],
                role=d["role"],
                topics=tuple(d["topics"]),
                handles=tuple(d["handles"]),
            )
            for name, d in index["subscriptions"].items()
        }
        sagas = {name: _saga(name, d) for name, d in index["sagas"].items()}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise RegistryError(
            f"{index_path} cannot be read ({type(error).__name__}: {error}); "
            "restore it from version control"
        ) from None
    return Registry(messages=messages, subscriptions=subscriptions, sagas=sagas)


def _entry(root: Path, name: str, data: dict[str, Any]) -> Entry:
    schemas = {
        int(version): json.loads((root / "events" / path).read_text())
        for version, path in data["versions"].items()
    }
    version = data["version"]
    spec = MessageSpec(
        type=name,
        kind=data["kind"],
        version=version,
        topic=data["topic"],
        key=data["key"],
        declared_by=data["declared_by"],
        schema=schemas[version],
        producers=tuple(data["producers"]),
        accepted_by=tuple(data["accepted_by"]),
        consumers=tuple(data["consumers"]),
        in_process=data["in_process"],
        upcasters=frozenset(data["upcasters"]),
    )
    return Entry(spec=spec, schemas=schemas, retired=data["retired"])


def _saga(name: str, data: dict[str, Any]) -> SagaSpec:
    return SagaSpec(
        name=name,
        app=data["app"],
        started_by=data["started_by"],
        correlate_on=data["correlate_on"],
        steps=tuple(
            StepSpec(
                send=s["send"],
                done=s["done"],
                failed=tuple(s["failed"]),
                undo=s["undo"],
                undone=s["undone"],
                within_seconds=s["within_seconds"],
            )
            for s in data["steps"]
        ),
        on_completed=data["on_completed"],
        on_compensated=data["on_compensated"],
        cancelled_by=data["cancelled_by"],
    )


# -- writing ------------------------------------------------------------------------


def dump(document: Any, *, sort_keys: bool = True) -> str:
    return (
        json.dumps(document, indent=2, sort_keys=sort_keys, ensure_ascii=False) + "\n"
    )


def files(registry: Registry) -> dict[Path, str]:
    """Every file of the registry, by path under the docs folder."""
    out: dict[Path, str] = {}
    for name, entry in registry.messages.items():
        for version, schema in entry.schemas.items():
            # pydantic's key order (fields as declared) reads best: not sorted
            out[schema_path(name, version)] = dump(schema, sort_keys=False)
    index = {
        "format": FORMAT,
        "generated_by": "manage.py events schemas export (make schemas)",
        "messages": {
            name: _message_index(name, entry)
            for name, entry in registry.messages.items()
        },
        "subscriptions": {
            name: {
                "app": s.app,
                "role": s.role,
                "topics": list(s.topics),
                "handles": list(s.handles),
            }
            for name, s in registry.subscriptions.items()
        },
        "sagas": {name: _saga_index(s) for name, s in registry.sagas.items()},
    }
    out[INDEX] = dump(index)
    return out


def _message_index(name: str, entry: Entry) -> dict[str, Any]:
    spec = entry.spec
    return {
        "kind": spec.kind,
        "version": spec.version,
        "versions": {
            str(v): schema_path(name, v).relative_to("events").as_posix()
            for v in entry.versions
        },
        "topic": spec.topic,
        "key": spec.key,
        "declared_by": spec.declared_by,
        "producers": list(spec.producers),
        "accepted_by": list(spec.accepted_by),
        "consumers": list(spec.consumers),
        "in_process": spec.in_process,
        "upcasters": sorted(spec.upcasters),
        "retired": entry.retired,
    }


def _saga_index(spec: SagaSpec) -> dict[str, Any]:
    return {
        "app": spec.app,
        "started_by": spec.started_by,
        "correlate_on": spec.correlate_on,
        "steps": [
            {
                "send": step.send,
                "done": step.done,
                "failed": list(step.failed),
                "undo": step.undo,
                "undone": step.undone,
                "within_seconds": step.within_seconds,
            }
            for step in spec.steps
        ],
        "on_completed": spec.on_completed,
        "on_compensated": spec.on_compensated,
        "cancelled_by": spec.cancelled_by,
    }
