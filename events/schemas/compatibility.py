"""The gate: the code's contract against the committed registry.

A stored message is read by whatever code runs later, so for each type the committed
registry names, the code must still read every version it kept:

- the same version: its schema accepts all the committed one did (``jsondiff``: no
  field removed or renamed, no type narrowed or changed, no new required field, no
  enum value removed), and the committed schema's examples still read;
- a newer version: a ``from_v<n>`` for every older version, and the examples of each
  older version read through the chain (an upcaster that exists but does not produce
  the current shape is caught here, not on a stored message);
- never an older version, another topic or key (partitions and order), another kind,
  another declaring app (that is a wire name reused), nor a retired name again;
- every type still declared, unless its name was retired on purpose (stored history
  may hold it: event streams are kept forever).

Anything else that differs (a new optional field, a new type or version, new
consumers, descriptions) is compatible and only asks for a re-export.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from ..messages import upcast
from . import jsondiff
from .examples import CannotBuild, examples
from .model import Contract, MessageSpec
from .registry import Entry, Registry

Level = Literal["breaking", "export", "note"]


@dataclass(frozen=True)
class Finding:
    """One result: which type and version, where in it (a field path or ""), what,
    and its level: ``breaking`` fails the gate, ``export`` asks for a re-export,
    ``note`` only informs."""

    type: str
    version: int | None
    where: str
    what: str
    level: Level

    def __str__(self) -> str:
        subject = self.type + (f" v{self.version}" if self.version else "")
        if self.where:
            subject += f", field {self.where}"
        return f"{subject}: {self.what}"


BREAKING_ADVICE = (
    "each line above says what to do (a changed type needs a new version, version=n+1 "
    "with from_v<n>, or a new wire name; a removed one is kept or retired); see "
    "README.md, 'Event schemas'"
)


def check(
    committed: Registry, contract: Contract, *, retire: Iterable[str] = ()
) -> list[Finding]:
    """Every finding, breaking ones first. ``retire``: names an export is about to
    retire (their removal is then intended)."""
    retire = set(retire)
    findings: list[Finding] = []
    for name in sorted(committed.messages.keys() | contract.messages.keys()):
        entry, spec = committed.messages.get(name), contract.messages.get(name)
        if entry is None:
            assert spec is not None
            findings.append(
                Finding(name, spec.version, "", "new message type", "export")
            )
        elif spec is None:
            if not entry.retired and name not in retire:
                findings.append(_removed(entry))
        elif entry.retired:
            findings.append(
                Finding(
                    name,
                    spec.version,
                    "",
                    "wire name reused: it was retired (its old messages may still be "
                    "stored) and is never declared again; choose a new name",
                    "breaking",
                )
            )
        else:
            findings.extend(_compare(entry, spec))
    if committed.subscriptions != contract.subscriptions:
        changed = sorted(
            n
            for n in committed.subscriptions.keys() | contract.subscriptions.keys()
            if committed.subscriptions.get(n) != contract.subscriptions.get(n)
        )
        findings.append(
            Finding(
                "subscriptions", None, "", f"changed: {', '.join(changed)}", "export"
            )
        )
    if committed.sagas != contract.sagas:
        findings.append(Finding("sagas", None, "", "declarations changed", "export"))
    order = {"breaking": 0, "export": 1, "note": 2}
    return sorted(findings, key=lambda f: order[f.level])


def _removed(entry: Entry) -> Finding:
    name = entry.spec.type
    return Finding(
        name,
        entry.spec.version,
        "",
        "removed from the code, but stored history may still hold it (event streams "
        "are kept forever; the log until pruned, dead letters until resolved): keep "
        "the type, or once `manage.py events schemas check --stored` finds none in "
        f"production, retire the name: `manage.py events schemas export --retire "
        f"{name}`",
        "breaking",
    )


def _compare(entry: Entry, spec: MessageSpec) -> list[Finding]:
    out = _identity(entry, spec)
    latest = max(entry.versions)
    if spec.version < latest:
        out.append(
            _breaking(
                spec,
                f"version went back from v{latest} to v{spec.version}: stored "
                f"v{latest} messages cannot be read (MessageVersionError)",
            )
        )
        return out
    if spec.version > latest:
        return out + _new_version(entry, spec)
    return out + _same_version(entry, spec) + _index_details(entry, spec)


def _breaking(spec: MessageSpec, what: str) -> Finding:
    return Finding(spec.type, spec.version, "", what, "breaking")


def _identity(entry: Entry, spec: MessageSpec) -> list[Finding]:
    """What a message may never change: who declares it, its kind, topic and key."""
    was = entry.spec
    out: list[Finding] = []
    if was.declared_by != spec.declared_by:
        out.append(
            _breaking(
                spec,
                f"wire name reused: declared by {was.declared_by}, now by "
                f"{spec.declared_by}; a wire name is never reused, choose a new one",
            )
        )
    if was.kind != spec.kind:
        out.append(_breaking(spec, f"was an {was.kind}, now a {spec.kind}"))
    if was.topic != spec.topic:
        out.append(
            _breaking(
                spec,
                f"topic changed from {was.topic} to {spec.topic}: stored messages "
                f"stay on {was.topic}, and subscriptions of {spec.topic} never see "
                "them",
            )
        )
    if was.key != spec.key:
        out.append(
            _breaking(
                spec,
                f"key changed from {was.key} to {spec.key}: one aggregate's messages "
                "would no longer share a partition, so their order is lost",
            )
        )
    return out


def _new_version(entry: Entry, spec: MessageSpec) -> list[Finding]:
    """A bumped version: an upcaster from every stored version, and the examples of
    each committed version still read."""
    missing = [
        n for n in range(min(entry.versions), spec.version) if n not in spec.upcasters
    ]
    out = [
        _breaking(
            spec,
            f"version bumped to v{spec.version} without from_v{n}: stored v{n} "
            "messages cannot be upcast",
        )
        for n in missing
    ]
    out.append(Finding(spec.type, spec.version, "", "new version", "export"))
    if not missing:
        out.extend(_examples_read(entry, spec, entry.versions))
    return out


def _same_version(entry: Entry, spec: MessageSpec) -> list[Finding]:
    """The same version: its schema may only change compatibly."""
    latest = max(entry.versions)
    changes = jsondiff.compare(entry.schemas[latest], spec.schema)
    out = [
        Finding(
            spec.type,
            spec.version,
            change.where,
            change.what,
            "breaking" if change.breaking else "export",
        )
        for change in changes
    ]
    if not changes and entry.schemas[latest] != spec.schema:
        out.append(
            Finding(
                spec.type, spec.version, "", "descriptions or titles changed", "export"
            )
        )
    if not any(c.breaking for c in changes):
        out.extend(_examples_read(entry, spec, entry.versions))
    return out


def _index_details(entry: Entry, spec: MessageSpec) -> list[Finding]:
    """Who sends and reads it: changes the export writes, never breaking."""
    was = entry.spec
    out: list[Finding] = []
    for label, before, after in (
        ("producers", was.producers, spec.producers),
        ("accepted by", was.accepted_by, spec.accepted_by),
        ("consumers", was.consumers, spec.consumers),
    ):
        if before != after:
            shown = ", ".join(after) or "none"
            out.append(Finding(spec.type, None, "", f"{label} now {shown}", "export"))
    if was.in_process != spec.in_process or was.upcasters != spec.upcasters:
        out.append(Finding(spec.type, None, "", "index details changed", "export"))
    return out


def _examples_read(
    entry: Entry, spec: MessageSpec, versions: Iterable[int]
) -> list[Finding]:
    """Read the examples of each committed version through the code (upcasting the
    older ones): the safety net under the schema comparison and the upcaster check."""
    if spec.cls is None:
        return []
    out = []
    for version in versions:
        try:
            documents = examples(entry.schemas[version])
        except CannotBuild as error:
            out.append(
                Finding(
                    spec.type,
                    version,
                    "",
                    f"no example to read through the code: {error}",
                    "note",
                )
            )
            continue
        for label, document in documents.items():
            try:
                spec.cls.model_validate(upcast(spec.cls, document, version))
            except Exception as error:  # any failure is the finding
                via = (
                    f" after upcasting to v{spec.version}"
                    if version < spec.version
                    else ""
                )
                out.append(
                    Finding(
                        spec.type,
                        version,
                        "",
                        f"a {label} v{version} document does not read{via} "
                        f"({type(error).__name__}: {_first_line(error)})",
                        "breaking",
                    )
                )
    return out


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()[:3]
    return " ".join(line.strip() for line in lines)
