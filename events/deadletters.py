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
from typing import Literal

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from . import inbox
from .handling import HandlerFailed, run_local, run_outside
from .messages import Envelope
from .models import DeadLetter
from .outbox import UnitOfWork
from .subscriptions import registry

Outcome = Literal["handled", "failed", "skipped"]


def park(
    subscription: str, envelope: Envelope, *, error: str, trace: str, attempts: int
) -> DeadLetter:
    """Store a copy of the message with its error (in the caller's transaction)."""
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
            "parked_at": timezone.now(),
            "resolved_at": None,
        },
    )
    return letter


def matching(
    *,
    subscription: str | None = None,
    type: str | None = None,
    status: str | None = DeadLetter.Status.PARKED,
) -> QuerySet[DeadLetter]:
    """Dead letters filtered by subscription, message type and status, oldest first."""
    letters = DeadLetter.objects.order_by("parked_at", "id")
    if subscription:
        letters = letters.filter(subscription=subscription)
    if type:
        letters = letters.filter(type=type)
    if status:
        letters = letters.filter(status=status)
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
    published = []
    try:
        if handler is not None and handler.outside:
            if connection.in_atomic_block:
                raise RuntimeError("outside handlers must run with no transaction open")
            if not inbox.contains(subscription.name, envelope.message_id):
                published = run_outside(subscription, envelope).published
        with transaction.atomic(durable=True):
            if not _mark(letter_id, DeadLetter.Status.REDRIVEN):
                return "skipped", ""
            fresh = inbox.claim(subscription.name, [envelope])
            unit = UnitOfWork()
            with unit.active():
                if handler is not None and not handler.outside and fresh:
                    unit.add(run_local(subscription, [envelope], singles=True))
            unit.add(published)
            unit.flush()
    except HandlerFailed as failed:
        error = failed.error
        text = f"{type(error).__name__}: {error}"
        DeadLetter.objects.filter(id=letter_id, status=DeadLetter.Status.PARKED).update(
            error=text,
            traceback="".join(traceback.format_exception(error)),
            attempts=letter.attempts + 1,
        )
        return "failed", text
    return "handled", ""


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
