"""Rendering of API answers: JSON with times at their full precision.

Ninja renders through Django's JSON encoder, which cuts a time to milliseconds
(ECMA-262's format). The event store keeps microseconds, so a ``recorded_at`` handed
out cut short and handed back as ``?as_of=`` fell before the event it named, and the
order "did not exist yet". Every time the API gives must find what it was given for,
so times go out as ISO 8601 with every digit they have (as pydantic's own JSON does,
which the stored answers of idempotency keys use): ``2026-12-01T20:59:30.971234Z``.
"""

from __future__ import annotations

import datetime
from typing import Any

from ninja.renderers import JSONRenderer
from ninja.responses import NinjaJSONEncoder


def iso(value: datetime.datetime | datetime.time) -> str:
    """ISO 8601 with microseconds kept; UTC written ``Z``."""
    text = value.isoformat()
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


class FullPrecisionEncoder(NinjaJSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, datetime.datetime | datetime.time):
            return iso(o)
        return super().default(o)


class FullPrecisionRenderer(JSONRenderer):
    encoder_class = FullPrecisionEncoder
