"""What a drain did, and counting a failed attempt: a retry with backoff, or a dead
letter once the subscription's ``max_attempts`` are spent."""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from ..log.outbox import publish
from ..log.unit import unit_of_work
from ..messages import Envelope
from ..models import Checkpoint
from ..telemetry.delivery import failing
from . import checkpoints, deadletters, outages
from .checkpoints import CheckpointMoved
from .counting import failed_on_commit, retried_on_commit
from .notices import MessageParked
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
    resumed: bool = False  # a probe ended a pause: wake every partition


def record_failure(
    subscription: Subscription,
    partition: int,
    envelope: Envelope,
    error: BaseException,
    start: int,
    result: DrainResult,
) -> None:
    """Count a failed attempt: schedule a retry with backoff, or park the message
    (then the partition moves past it), in one unit of work; unless the failure is an
    outage of the subscription (``events.delivery.outages``): then the message keeps
    its attempts and waits for the subscription's next probe. ``start`` is the
    checkpoint the drain read: if it moved meanwhile, CheckpointMoved (nothing done).
    Its log lines carry the message's fields, its trace and the error's traceback."""
    result.failures += 1
    with failing(subscription.name, envelope), unit_of_work():
        checkpoint = Checkpoint.objects.select_for_update().get(
            subscription=subscription.name, partition=partition
        )
        if checkpoint.position != start:
            raise CheckpointMoved(
                f"{subscription.name} p{partition} moved from {start}"
            )
        same = checkpoint.failing_offset == envelope.offset
        if not same or checkpoint.failing_since is None:
            checkpoint.failing_since = timezone.now()  # the message's first failure
        verdict = outages.judge(
            subscription.name,
            partition,
            envelope.key,
            error,
            since=checkpoint.failing_since,
        )
        failed_on_commit(subscription.name)
        if verdict.outage:
            checkpoint.refresh_from_db(fields=["attempts"])  # reset by the pause
            _hold(checkpoint, envelope, error, until=verdict.probe_at)
            result.retry_at = verdict.probe_at
            return
        attempts = checkpoint.attempts + 1 if same else 1
        if attempts >= subscription.max_attempts:
            _park(subscription, checkpoint, envelope, error, attempts, start)
            result.dead_lettered += 1
        else:
            _schedule_retry(subscription, checkpoint, envelope, error, attempts)
            retried_on_commit(subscription.name)
            result.retry_at = checkpoint.retry_at


def _describe(error: BaseException) -> str:
    return outages.shape(error)


def _hold(
    checkpoint: Checkpoint,
    envelope: Envelope,
    error: BaseException,
    *,
    until: datetime | None,
) -> None:
    """The partition waits at the failing message until ``until`` (the checkpoint's
    ``failing_since`` is set by the caller)."""
    checkpoint.failing_offset = envelope.offset
    checkpoint.failing_key = envelope.key[:200]
    checkpoint.retry_at = until
    checkpoint.last_error = _describe(error)
    checkpoint.save()


def _park(
    subscription: Subscription,
    checkpoint: Checkpoint,
    envelope: Envelope,
    error: BaseException,
    attempts: int,
    start: int,
) -> None:
    """The attempts are spent: a dead letter, announced (MessageParked), and the
    partition moves past it."""
    text = _describe(error)
    letter = deadletters.park(
        subscription.name,
        envelope,
        error=text,
        trace="".join(traceback.format_exception(error)),
        attempts=attempts,
        failing_since=checkpoint.failing_since,
    )
    publish(
        MessageParked(
            subscription=subscription.name,
            message_id=envelope.message_id,
            type=envelope.type,
            key=envelope.key,
            dead_letter_id=letter.id,
            attempts=attempts,
            error=text[:500],
        ),
        correlation_id=envelope.correlation_id,
        causation_id=envelope.message_id,
    )
    checkpoints.advance(
        subscription.name, envelope.partition, expected=start, to=envelope.offset
    )
    logger.error(
        "%s: parked %s p%s@%s after %s attempts: %s",
        subscription.name,
        envelope.type,
        envelope.partition,
        envelope.offset,
        attempts,
        text,
        exc_info=error,
    )


def _schedule_retry(
    subscription: Subscription,
    checkpoint: Checkpoint,
    envelope: Envelope,
    error: BaseException,
    attempts: int,
) -> None:
    """Hold the partition at the message until its retry falls due (backoff)."""
    text = _describe(error)
    checkpoint.attempts = attempts
    _hold(
        checkpoint,
        envelope,
        error,
        until=timezone.now() + subscription.backoff.delay(attempts),
    )
    logger.warning(
        "%s: %s p%s@%s failed (attempt %s of %s), retry at %s: %s",
        subscription.name,
        envelope.type,
        envelope.partition,
        envelope.offset,
        attempts,
        subscription.max_attempts,
        checkpoint.retry_at,
        text,
        exc_info=error,
    )
