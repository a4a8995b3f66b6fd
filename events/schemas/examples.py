"""Example documents of a JSON Schema: the smallest valid one and a full one.

The gate reads the examples of every committed version through today's code and its
upcasters (``from_v<n>``): an upcaster that exists but does not turn a stored shape
into the current one fails there, before any stored message meets it. Two examples
per schema: only the required fields with their smallest values, and every field
(optional ones too) with a non-null value.
"""

from __future__ import annotations

import math
from typing import Any

Schema = dict[str, Any]

_FORMATS = {
    "uuid": "00000000-0000-4000-8000-000000000001",
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "00:00:00",
    "email": "someone@example.com",
    "duration": "PT1S",
}


class CannotBuild(ValueError):
    """The schema asks for something no example can be made up for (a pattern, an
    unknown format)."""


def examples(schema: Schema) -> dict[str, Any]:
    """``{"minimal": ..., "full": ...}`` for a message schema."""
    return {
        "minimal": _Builder(schema, full=False).build(schema),
        "full": _Builder(schema, full=True).build(schema),
    }


class _Builder:
    def __init__(self, root: Schema, *, full: bool) -> None:
        self.root, self.full, self.depth = root, full, 0

    def _resolve(self, schema: Schema) -> Schema:
        while "$ref" in schema:
            target: Any = self.root
            for part in schema["$ref"][2:].split("/"):
                target = target[part]
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return schema

    def build(self, schema: Schema) -> Any:
        self.depth += 1
        if self.depth > 32:
            raise CannotBuild("the schema nests deeper than 32 levels")
        try:
            return self._value(self._resolve(schema))
        finally:
            self.depth -= 1

    def _value(self, schema: Schema) -> Any:
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][-1 if self.full else 0]
        branches = schema.get("anyOf") or schema.get("oneOf")
        if branches:
            chosen = branches[0]
            if self.full:
                chosen = next(
                    (b for b in branches if self._resolve(b).get("type") != "null"),
                    chosen,
                )
            return self.build(chosen)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), kind[0])
        if kind == "null":
            return None
        if kind == "boolean":
            return True
        if kind in ("integer", "number"):
            return self._number(schema, integer=kind == "integer")
        if kind == "string":
            return self._string(schema)
        if kind == "array":
            return self._array(schema)
        if kind == "object" or "properties" in schema:
            return self._object(schema)
        return "any"

    def _number(self, schema: Schema, *, integer: bool) -> int | float:
        step = schema.get("multipleOf", 1)
        low = schema.get("minimum", -math.inf)
        if "exclusiveMinimum" in schema:
            low = max(low, schema["exclusiveMinimum"] + (1 if integer else step / 2))
        high = schema.get("maximum", math.inf)
        if "exclusiveMaximum" in schema:
            high = min(high, schema["exclusiveMaximum"] - (1 if integer else step / 2))
        value = 1 if low <= 1 <= high else (low if low != -math.inf else high)
        value = math.ceil(value / step) * step
        if value > high:
            raise CannotBuild(f"no multiple of {step} between {low} and {high}")
        return int(value) if integer else value

    def _string(self, schema: Schema) -> str:
        if "pattern" in schema:
            raise CannotBuild(f"a string matching {schema['pattern']!r}")
        form = schema.get("format")
        if form is not None:
            if form not in _FORMATS:
                raise CannotBuild(f"a string of format {form!r}")
            return _FORMATS[form]
        length: int = max(schema.get("minLength", 0), 1)
        most: int = schema.get("maxLength", length)
        return "x" * min(length, most)

    def _array(self, schema: Schema) -> list[Any]:
        fixed = [self.build(s) for s in schema.get("prefixItems", ())]
        count = max(schema.get("minItems", 0), 1 if self.full else 0) - len(fixed)
        items = schema.get("items")
        if count > 0 and isinstance(items, dict):
            fixed += [self.build(items) for _ in range(count)]
        return fixed

    def _object(self, schema: Schema) -> dict[str, Any]:
        required = set(schema.get("required", ()))
        return {
            name: self.build(sub)
            for name, sub in schema.get("properties", {}).items()
            if self.full or name in required
        }
