"""What changed between two JSON Schemas of one message version, and whether the new
one still reads every document the old one accepted.

Stored messages are read by today's code, so a change is compatible only when the new
schema accepts whatever the old one did (it may widen: a new optional field, an added
enum value, a looser bound, ``int`` to ``int | None``). It breaks when it narrows or
changes a type, adds a required field, removes an enum value, and, because consumers
read fields by name, when it removes or renames a field. Each change names the field
it is at (``lines[].quantity``: the items of ``lines``, their ``quantity``).

This covers the JSON Schema pydantic emits for message models (``$ref`` into
``$defs``, ``anyOf`` for unions and optionals, ``enum``/``const``, formats, numeric
and length bounds, arrays, tuples and nested objects); a keyword it does not know
that differs is reported as breaking, so an unrecognised change is reviewed rather
than waved through. No maintained Python library answers "does schema B accept
everything schema A does, and where not?" with the field named, hence this module.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Schema = dict[str, Any]

ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "deprecated", "$comment"}
)
_HANDLED = frozenset(
    {
        "type",
        "enum",
        "const",
        "format",
        "pattern",
        "minimum",
        "exclusiveMinimum",
        "maximum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "uniqueItems",
        "items",
        "prefixItems",
        "properties",
        "required",
        "additionalProperties",
        "minProperties",
        "maxProperties",
        "anyOf",
        "oneOf",
        "$ref",
        "$defs",
        "discriminator",
    }
)


@dataclass(frozen=True)
class Change:
    """One difference: where (a field path, "" for the message itself), what, and
    whether it breaks readers of stored messages."""

    where: str
    what: str
    breaking: bool


def compare(old: Schema, new: Schema) -> list[Change]:
    """The differences from ``old`` to ``new`` (two schemas of one message version)."""
    diff = _Diff(old, new)
    diff.compare(old, new, "")
    return diff.changes


def strip_annotations(schema: Any) -> Any:
    """The schema without titles, descriptions and defaults (what validation sees)."""
    if isinstance(schema, list):
        return [strip_annotations(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for keyword, value in schema.items():
        if keyword in ("properties", "$defs") and isinstance(value, dict):
            out[keyword] = {n: strip_annotations(s) for n, s in value.items()}
        elif keyword not in ANNOTATIONS:
            out[keyword] = strip_annotations(value)
    return out


def describe(schema: Schema) -> str:
    """A short name for a schema in a message: ``string (uuid)``, ``null``, ..."""
    values = _enum(schema)
    if values is not None:
        return "one of " + ", ".join(json.dumps(v) for v in values)
    kind = schema.get("type", "any value")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if schema.get("format"):
        return f"{kind} ({schema['format']})"
    if kind == "object" and schema.get("title"):
        return f"object {schema['title']}"
    return str(kind)


def _enum(schema: Schema) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    if "enum" in schema:
        return list(schema["enum"])
    return None


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


class _Diff:
    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self.roots = (old_root, new_root)
        self.changes: list[Change] = []
        self._seen: set[tuple[str, str, str]] = set()

    def _add(self, where: str, what: str, *, breaking: bool) -> None:
        change = Change(where, what, breaking)
        if change not in self.changes:
            self.changes.append(change)

    # -- references and alternatives --------------------------------------------

    def _resolve(self, schema: Schema, side: int) -> Schema:
        root, hops = self.roots[side], 0
        while isinstance(schema, dict) and "$ref" in schema:
            ref = schema["$ref"]
            if not ref.startswith("#/") or hops > 50:
                raise ValueError(f"unsupported $ref {ref!r}")
            target: Any = root
            for part in ref[2:].split("/"):
                target = target[part]
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema, hops = {**target, **rest}, hops + 1
        return schema

    def _alternatives(self, schema: Schema, side: int) -> list[Schema]:
        schema = self._resolve(schema, side)
        branches = schema.get("anyOf") or schema.get("oneOf")
        if branches:
            return [a for b in branches for a in self._alternatives(b, side)]
        if isinstance(schema.get("type"), list):
            return [{**schema, "type": t} for t in schema["type"]]
        return [schema]

    # -- comparing ----------------------------------------------------------------

    def compare(self, old: Schema, new: Schema, where: str) -> None:
        key = (where, json.dumps(old, sort_keys=True), json.dumps(new, sort_keys=True))
        if key in self._seen:  # a recursive schema: this pair is being compared
            return
        self._seen.add(key)
        olds, news = self._alternatives(old, 0), self._alternatives(new, 1)
        if len(olds) == 1 and len(news) == 1:
            self._single(olds[0], news[0], where)
            return
        matched: set[int] = set()
        for alternative in olds:
            trials = []
            for index, candidate in enumerate(news):
                trial = _Diff(*self.roots)
                trial._seen = set(self._seen)
                trial._single(alternative, candidate, where)
                trials.append((index, candidate, trial.changes))
            fitting = [t for t in trials if not any(c.breaking for c in t[2])]
            if fitting:
                index, _, changes = fitting[0]
                matched.add(index)
                for change in changes:
                    self._add(change.where, change.what, breaking=False)
                continue
            same_type = [
                t for t in trials if t[1].get("type") == alternative.get("type")
            ]
            if same_type:
                for change in same_type[0][2]:
                    self._add(change.where, change.what, breaking=change.breaking)
            else:
                now = " or ".join(describe(n) for n in news)
                self._add(
                    where,
                    f"no longer accepts {describe(alternative)} (now {now})",
                    breaking=True,
                )
        for index, candidate in enumerate(news):
            if index not in matched and not self._accepted_by(candidate, olds, where):
                self._add(
                    where, f"now also accepts {describe(candidate)}", breaking=False
                )

    def _accepted_by(self, candidate: Schema, olds: list[Schema], where: str) -> bool:
        """Whether the old schema already accepted all that ``candidate`` does."""
        for alternative in olds:
            trial = _Diff(self.roots[1], self.roots[0])
            trial._single(candidate, alternative, where)
            if not any(c.breaking for c in trial.changes):
                return True
        return False

    def _single(self, old: Schema, new: Schema, where: str) -> None:
        if not self._same_kind(old, new, where):
            return
        self._strings(old, new, where)
        self._bounds(old, new, where)
        self._arrays(old, new, where)
        self._objects(old, new, where)
        for keyword in sorted((set(old) | set(new)) - _HANDLED - ANNOTATIONS):
            if old.get(keyword) != new.get(keyword):
                self._add(
                    where,
                    f"{keyword} changed from {json.dumps(old.get(keyword))} to "
                    f"{json.dumps(new.get(keyword))} (not a change this check can "
                    "prove compatible)",
                    breaking=True,
                )

    def _same_kind(self, old: Schema, new: Schema, where: str) -> bool:
        """Types and enumerations; False when nothing more is worth comparing."""
        old_values, new_values = _enum(old), _enum(new)
        if new_values is not None:
            if old_values is None:
                self._add(
                    where,
                    f"narrowed: now only {describe(new)} (was any {describe(old)})",
                    breaking=True,
                )
                return False
            removed = [v for v in old_values if v not in new_values]
            added = [v for v in new_values if v not in old_values]
            if removed:
                self._add(
                    where,
                    "enum value removed: " + ", ".join(json.dumps(v) for v in removed),
                    breaking=True,
                )
            if added:
                self._add(
                    where,
                    "enum value added: " + ", ".join(json.dumps(v) for v in added),
                    breaking=False,
                )
            return False
        if old_values is not None:
            self._add(where, f"widened: now any {describe(new)}", breaking=False)
        old_type, new_type = old.get("type"), new.get("type")
        if new_type is None:
            if old_type is not None:
                self._add(where, "widened: now any value", breaking=False)
            return False
        if old_type is None and old_values is None:
            self._add(
                where,
                f"narrowed: now must be {describe(new)} (was any value)",
                breaking=True,
            )
            return False
        if old_type is None:  # an enumeration without a type, now a type
            return False
        if old_type != new_type:
            if (old_type, new_type) == ("integer", "number"):
                self._add(where, "widened from integer to number", breaking=False)
                return True
            self._add(
                where,
                f"type changed from {describe(old)} to {describe(new)}",
                breaking=True,
            )
            return False
        return True

    def _strings(self, old: Schema, new: Schema, where: str) -> None:
        for keyword, label in (("format", "format"), ("pattern", "pattern")):
            before, after = old.get(keyword), new.get(keyword)
            if after is not None and after != before:
                what = (
                    f"narrowed: now requires {label} {after!r}"
                    if before is None
                    else f"{label} changed from {before!r} to {after!r}"
                )
                self._add(where, what, breaking=True)
            elif before is not None and after is None:
                self._add(where, f"widened: {label} {before!r} dropped", breaking=False)

    def _bounds(self, old: Schema, new: Schema, where: str) -> None:
        for low, high in (
            ("minLength", "maxLength"),
            ("minItems", "maxItems"),
            ("minProperties", "maxProperties"),
        ):
            self._limit(where, low, old.get(low), new.get(low), _greater, str)
            self._limit(where, high, old.get(high), new.get(high), _less, str)
        self._limit(where, "value", _lower(old), _lower(new), _tighter_low, _low)
        self._limit(where, "value", _upper(old), _upper(new), _tighter_high, _high)
        before, after = old.get("multipleOf"), new.get("multipleOf")
        if after is not None and after != before:
            divides = before is not None and (before / after) == int(before / after)
            self._add(
                where,
                f"multipleOf changed from {before} to {after}",
                breaking=not divides,
            )
        if new.get("uniqueItems") and not old.get("uniqueItems"):
            self._add(where, "narrowed: items must now be unique", breaking=True)

    def _limit(
        self,
        where: str,
        name: str,
        before: Any,
        after: Any,
        stricter: Callable[[Any, Any], bool],
        show: Callable[[Any], str],
    ) -> None:
        if before == after:
            return
        was = "none" if before is None else show(before)
        now = "none" if after is None else show(after)
        verdict = "narrowed" if stricter(after, before) else "widened"
        self._add(
            where,
            f"{verdict}: {name} now {now} (was {was})",
            breaking=verdict == "narrowed",
        )

    def _arrays(self, old: Schema, new: Schema, where: str) -> None:
        if "items" in old or "items" in new:
            before, after = old.get("items", {}), new.get("items", {})
            if isinstance(before, dict) and isinstance(after, dict):
                self.compare(before, after, f"{where}[]")
        before_tuple, after_tuple = old.get("prefixItems"), new.get("prefixItems")
        if before_tuple or after_tuple:
            before_tuple, after_tuple = before_tuple or [], after_tuple or []
            if len(before_tuple) != len(after_tuple):
                self._add(
                    where,
                    f"tuple of {len(before_tuple)} items is now of {len(after_tuple)}",
                    breaking=True,
                )
            for index, (b, a) in enumerate(
                zip(before_tuple, after_tuple, strict=False)
            ):
                self.compare(b, a, f"{where}[{index}]")

    def _objects(self, old: Schema, new: Schema, where: str) -> None:
        before, after = old.get("properties", {}), new.get("properties", {})
        required_before = set(old.get("required", ()))
        required_after = set(new.get("required", ()))
        removed = [name for name in before if name not in after]
        added = [name for name in after if name not in before]
        for name in removed:
            twin = next(
                (
                    a
                    for a in added
                    if strip_annotations(after[a]) == strip_annotations(before[name])
                ),
                None,
            )
            hint = f" (renamed to {twin}?)" if twin else ""
            self._add(
                _join(where, name),
                f"field removed{hint}: stored messages carry it and consumers read "
                "it by name",
                breaking=True,
            )
        for name in after:
            if name not in before:
                continue
            self.compare(before[name], after[name], _join(where, name))
            if name in required_after and name not in required_before:
                self._add(
                    _join(where, name),
                    "now required without a default: stored messages may lack it",
                    breaking=True,
                )
            elif name not in required_after and name not in required_before:
                was, now = before[name].get("default"), after[name].get("default")
                if was != now:
                    self._add(
                        _join(where, name),
                        f"default changed from {json.dumps(was)} to {json.dumps(now)}",
                        breaking=False,
                    )
        for name in added:
            if name in required_after:
                self._add(
                    _join(where, name),
                    "new required field without a default: stored messages lack it",
                    breaking=True,
                )
            else:
                self._add(_join(where, name), "new optional field", breaking=False)
        extra_before = old.get("additionalProperties", True)
        extra_after = new.get("additionalProperties", True)
        if extra_after is False and extra_before is not False:
            self._add(where, "narrowed: other fields are now refused", breaking=True)
        elif isinstance(extra_after, dict):
            self.compare(
                extra_before if isinstance(extra_before, dict) else {},
                extra_after,
                f"{where}{{}}",
            )


# -- bounds: (value, exclusive) pairs; None is unbounded ----------------------------


def _lower(schema: Schema) -> tuple[float, bool] | None:
    bounds = []
    if "minimum" in schema:
        bounds.append((schema["minimum"], False))
    if "exclusiveMinimum" in schema:
        bounds.append((schema["exclusiveMinimum"], True))
    return max(bounds, default=None)


def _upper(schema: Schema) -> tuple[float, bool] | None:
    bounds = []
    if "maximum" in schema:
        bounds.append((schema["maximum"], False))
    if "exclusiveMaximum" in schema:
        bounds.append((schema["exclusiveMaximum"], True))
    return min(bounds, key=lambda b: (b[0], not b[1]), default=None)


def _tighter_low(
    after: tuple[float, bool] | None, before: tuple[float, bool] | None
) -> bool:
    if after is None:
        return False
    if before is None:
        return True
    return after[0] > before[0] or (after[0] == before[0] and after[1] > before[1])


def _tighter_high(
    after: tuple[float, bool] | None, before: tuple[float, bool] | None
) -> bool:
    if after is None:
        return False
    if before is None:
        return True
    return after[0] < before[0] or (after[0] == before[0] and after[1] > before[1])


def _greater(after: Any, before: Any) -> bool:
    return (after or 0) > (before or 0)


def _less(after: Any, before: Any) -> bool:
    if after is None:
        return False
    return before is None or after < before


def _low(bound: tuple[float, bool]) -> str:
    return f"{'>' if bound[1] else '>='} {bound[0]}"


def _high(bound: tuple[float, bool]) -> str:
    return f"{'<' if bound[1] else '<='} {bound[0]}"
