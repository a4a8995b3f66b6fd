"""The request body parser: strict JSON, refused before it can reach a handler or the
database when it is not UTF-8, nests deeper than ``API_MAX_JSON_DEPTH``, holds NaN or
Infinity, or has a string with a NUL character or a lone surrogate (PostgreSQL text
cannot store either: letting them through would turn a bad request into a 500).

Also refused: an object with the same key twice (RFC 8259 leaves the meaning open and
Python's parser silently keeps the last value, so ``{"quantity": 5, "quantity": 1}``
would order 1), and an integer longer than Python converts (``MAX_DIGITS``; refused
with our words before the conversion, not with the interpreter's advice to call
``sys.set_int_max_str_digits``).

Ninja turns any parser exception into an HttpError(400) whose ``__cause__`` is the
exception raised here; ``problems`` takes the detail from it."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from ninja.parser import Parser


class BodyRejected(ValueError):
    """The body is not acceptable JSON; the message says why (shown to the client)."""


# The interpreter's own bound (4300 unless changed): longer integers never convert.
MAX_DIGITS = sys.get_int_max_str_digits() or 4300


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's members, refused when a key appears twice."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise BodyRejected(
                f"the body is not acceptable JSON: the key {json.dumps(key)} appears "
                "twice in one object"
            )
        found[key] = value
    return found


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise BodyRejected(
            f"the body is not acceptable JSON: a number has more than {MAX_DIGITS} "
            "digits"
        )
    return int(text)


def _no_constants(name: str) -> Any:
    raise BodyRejected(f"the body is not valid JSON: {name} is not a JSON number")


def check_text(text: str) -> None:
    """Refuse NUL characters and lone surrogates (not storable, not valid UTF-8)."""
    if "\x00" in text:
        raise BodyRejected("strings must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BodyRejected("strings must not contain lone surrogates") from None


def check_value(data: Any, max_depth: int) -> None:
    """Walk the parsed document (iteratively: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            check_text(value)
        elif isinstance(value, dict | list):
            if depth > max_depth:
                raise BodyRejected(f"the JSON nests deeper than {max_depth} levels")
            if isinstance(value, dict):
                for key, item in value.items():
                    check_text(key)
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)


class StrictJSONParser(Parser):
    def parse_body(self, request: HttpRequest) -> Any:
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise BodyRejected("the body is not valid UTF-8") from None
        try:
            data = json.loads(
                text,
                parse_constant=_no_constants,
                parse_int=_integer,
                object_pairs_hook=_unique_keys,
            )
        except BodyRejected:
            raise
        except RecursionError:
            raise BodyRejected("the JSON nests too deeply") from None
        except json.JSONDecodeError as error:
            raise BodyRejected(
                f"the body is not valid JSON: {error.msg} "
                f"(line {error.lineno}, column {error.colno})"
            ) from None
        except ValueError:  # a limit of the parser no check above names
            raise BodyRejected("the body is not acceptable JSON") from None
        check_value(data, settings.API_MAX_JSON_DEPTH)
        return data
