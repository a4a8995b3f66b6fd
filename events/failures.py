"""What a drain did, and counting a failed attempt: a retry with backoff, or a dead
letter once the subscription's ``max_attempts`` are spent."""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from . import checkpoints, deadletters
from .checkpoints import CheckpointMoved
from .messages import Envelope
from .models import Checkpoint
from .subscriptions import Subscription

logger = logging.getLogger("events.delivery")


@dataclass
class DrainResult:
    """What one drain call did, and whether the caller should come back."""

    handled: int = 0
    failures: int = 0
    dead_lettered: int = 0
    retry_at: datetime | None = None
    busy: bool = False
    more: bool = False


def record_failure(
    subscription: Subscription,
    partition: int,
    envelope: Envelope,
    error: BaseException,
    start: int,
    result: DrainResult,
) -> None:
    """Count a failed attempt: schedule a retry with backoff, or park the message."""
    result.failures += 1
    text = f"{type(error).__name__}: {error}"
    trace = "".join(traceback.format_exception(error))
    with transaction.atomic(durable=True):
        checkpoint = Checkpoint.objects.select_for_update().get(
            subscription=subscription.name, partition=partition
        )
        if checkpoint.position != start:
            raise CheckpointMoved(
                f"{subscription.name} p{partition} moved from {start}"
            )
        attempts = (
            checkpoint.attempts + 1
            if checkpoint.failing_offset == envelope.offset
            else 1
        )
        if attempts >= subscription.max_attempts:
            deadletters.park(
                subscription.name, envelope, error=text, trace=trace, attempts=attempts
            )
            checkpoints.advance(
                subscription.name, partition, expected=start, to=envelope.offset
            )
            result.dead_lettered += 1
            logger.error(
                "%s: parked %s p%s@%s after %s attempts: %s",
                subscription.name,
                envelope.type,
                partition,
                envelope.offset,
                attempts,
                text,
            )
            return
        checkpoint.failing_offset = envelope.offset
        checkpoint.attempts = attempts
        checkpoint.retry_at = timezone.now() + subscription.backoff.delay(attempts)
        checkpoint.last_error = text[:4000]
        checkpoint.save()
        result.retry_at = checkpoint.retry_at
        logger.warning(
            "%s: %s p%s@%s failed (attempt %s of %s), retry at %s: %s",
            subscription.name,
            envelope.type,
            partition,
            envelope.offset,
            attempts,
            subscription.max_attempts,
            checkpoint.retry_at,
            text,
        )
