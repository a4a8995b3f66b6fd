"""Dead letters: parking a message a subscription gave up on, and redriving it.

Redrive delivers exactly once: for a handler in this database, the dead letter's move
from ``parked`` to ``redriven`` (compare-and-set), the inbox row and the effects commit
together, so two operators redriving at once, or a redrive repeated, handle it once.
An outside handler is called with no transaction open and the same idempotency key as
the original deliveries, then its result is recorded the same way.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from uuid import UUID

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from ..messages import Envelope
from ..models import DeadLetter
from .counting import dead_lettered_on_commit, failed_on_commit
from .handling import HandlerFailed, local_effects
from .recording import outside_call, record_delivery
from .subscriptions import registry

Outcome = Literal["handled", "failed", "skipped"]


def park(
    subscription: str,
    envelope: Envelope,
    *,
    error: str,
    trace: str,
    attempts: int,
    failing_since: datetime | None,
) -> DeadLetter:
    """Store a copy of the message with its error (in the caller's transaction);
    ``failing_since``: when its first attempt failed. Counted as dead-lettered when
    that commits."""
    letter, _ = DeadLetter.objects.update_or_create(
        subscription=subscription,
        message_id=envelope.message_id,
        defaults={
            "status": DeadLetter.Status.PARKED,
            "type": envelope.type,
            "version": envelope.version,
            "topic": envelope.topic,
            "key": envelope.key,
            "partition": envelope.partition,
            "offset": envelope.offset,
            "recorded_at": envelope.recorded_at,
            "correlation_id": envelope.correlation_id,
            "causation_id": envelope.causation_id,
            "headers": envelope.headers,
            "payload": envelope.payload,
            "stream": envelope.stream,
            "stream_version": envelope.stream_version,
            "error": error,
            "traceback": trace,
            "attempts": attempts,
            "failing_since": failing_since,
            "parked_at": timezone.now(),
            "resolved_at": None,
        },
    )
    dead_lettered_on_commit(subscription)
    return letter


def matching(
    *,
    subscription: str | None = None,
    type: str | None = None,
    status: str | None = DeadLetter.Status.PARKED,
    key: str | None = None,
    correlation_id: UUID | None = None,
    message_id: UUID | None = None,
) -> QuerySet[DeadLetter]:
    """Dead letters filtered by subscription, message type and status (the admin's
    filters) and by key, correlation id and message id (its search), oldest first."""
    letters = DeadLetter.objects.order_by("parked_at", "id")
    if subscription:
        letters = letters.filter(subscription=subscription)
    if type:
        letters = letters.filter(type=type)
    if status:
        letters = letters.filter(status=status)
    if key:
        letters = letters.filter(key=key)
    if correlation_id:
        letters = letters.filter(correlation_id=correlation_id)
    if message_id:
        letters = letters.filter(message_id=message_id)
    return letters


@dataclass
class RedriveReport:
    handled: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    skipped: list[int] = field(default_factory=list)


def redrive(ids: Iterable[int]) -> RedriveReport:
    """Redrive each dead letter once; a failure leaves it parked with the new error."""
    report = RedriveReport()
    for letter_id in ids:
        outcome, error = redrive_one(letter_id)
        if outcome == "handled":
            report.handled.append(letter_id)
        elif outcome == "failed":
            report.failed[letter_id] = error
        else:
            report.skipped.append(letter_id)
    return report


def redrive_one(letter_id: int) -> tuple[Outcome, str]:
    letter = DeadLetter.objects.filter(
        id=letter_id, status=DeadLetter.Status.PARKED
    ).first()
    if letter is None:
        return "skipped", ""
    subscription = registry.get(letter.subscription)
    envelope = letter.envelope()
    handler = subscription.handler_for(envelope.type)
    try:
        effects = (
            outside_call(subscription, envelope)
            if handler is not None and handler.outside
            else local_effects(subscription, singles=True)
        )
        fresh = record_delivery(
            subscription,
            [envelope],
            effects=effects,
            guard=lambda: _mark(letter_id, DeadLetter.Status.REDRIVEN),
        )
    except HandlerFailed as failed:
        error = failed.error
        text = f"{type(error).__name__}: {error}"
        DeadLetter.objects.filter(id=letter_id, status=DeadLetter.Status.PARKED).update(
            error=text,
            traceback="".join(traceback.format_exception(error)),
            attempts=letter.attempts + 1,
        )
        failed_on_commit(subscription.name)
        return "failed", text
    return ("skipped", "") if fresh is None else ("handled", "")


def discard(ids: Iterable[int]) -> int:
    """Mark parked dead letters as discarded (kept for the record, never delivered)."""
    with transaction.atomic():
        return sum(_mark(i, DeadLetter.Status.DISCARDED) for i in ids)


def _mark(letter_id: int, status: str) -> bool:
    return bool(
        DeadLetter.objects.filter(id=letter_id, status=DeadLetter.Status.PARKED).update(
            status=status, resolved_at=timezone.now()
        )
    )
