"""What a delivery is observed with: its log fields and its span, entered together
where the handlers run (``events.delivery.handling``), and where a failed attempt is
counted (``events.delivery.failures``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from ..messages import Envelope
from .logs import delivery_fields
from .tracing import in_trace_of, processing


@contextmanager
def delivering(subscription: str, envelopes: Sequence[Envelope]) -> Iterator[None]:
    """While ``subscription`` handles ``envelopes`` (one message, or a batch): the
    log fields bound and the CONSUMER span current."""
    with delivery_fields(subscription, envelopes), processing(subscription, envelopes):
        yield


@contextmanager
def failing(subscription: str, envelope: Envelope) -> Iterator[None]:
    """While a failed attempt of ``envelope`` is counted, after its span ended: the
    log fields bound and the message's trace current (no new span)."""
    with delivery_fields(subscription, [envelope]), in_trace_of(envelope):
        yield
