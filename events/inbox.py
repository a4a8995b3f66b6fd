"""The inbox: which messages a subscription has handled, written with their effects."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from django.utils import timezone

from .messages import Envelope
from .models import InboxEntry


def claim(subscription: str, envelopes: Sequence[Envelope]) -> set[UUID]:
    """Record the envelopes as handled (in the caller's transaction) and return the ids
    that were new; the others were handled before and must not be handled again."""
    if not envelopes:
        return set()
    ids = [e.message_id for e in envelopes]
    seen = set(
        InboxEntry.objects.filter(
            subscription=subscription, message_id__in=ids
        ).values_list("message_id", flat=True)
    )
    now = timezone.now()
    fresh = [e for e in envelopes if e.message_id not in seen]
    InboxEntry.objects.bulk_create(
        InboxEntry(
            subscription=subscription,
            message_id=e.message_id,
            partition=e.partition,
            offset=e.offset,
            handled_at=now,
        )
        for e in fresh
    )
    return {e.message_id for e in fresh}


def contains(subscription: str, message_id: UUID) -> bool:
    return InboxEntry.objects.filter(
        subscription=subscription, message_id=message_id
    ).exists()


def forget_after(subscription: str, partition: int, offset: int) -> int:
    """Drop the records of messages past ``offset`` so a replay handles them again."""
    deleted, _ = InboxEntry.objects.filter(
        subscription=subscription, partition=partition, offset__gt=offset
    ).delete()
    return deleted
