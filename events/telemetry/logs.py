"""The fields every log line written while a message is handled carries.

Bound with structlog's context variables (``structlog.contextvars``): the logging
configuration (``shop.logs``) merges them into each line, lines of the standard
library's ``logging`` included. Context variables, so each drain thread has its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager

import structlog

from ..messages import Envelope


def delivery_fields(
    subscription: str, envelopes: Sequence[Envelope]
) -> AbstractContextManager[object]:
    """Bind the fields of one delivery (one message, or a batch: its message ids and
    last offset) while the block runs; the fields bound before come back after."""
    first = envelopes[0]
    fields: dict[str, object] = {
        "correlation_id": str(first.correlation_id),
        "subscription": subscription,
        "partition": first.partition,
        "offset": first.offset,
    }
    if len(envelopes) == 1:
        fields["message_id"] = str(first.message_id)
        fields["message_type"] = first.type
        if first.causation_id is not None:
            fields["causation_id"] = str(first.causation_id)
    else:
        fields["message_ids"] = [str(e.message_id) for e in envelopes]
        fields["last_offset"] = envelopes[-1].offset
    return structlog.contextvars.bound_contextvars(**fields)
