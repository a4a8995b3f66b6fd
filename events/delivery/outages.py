"""Outage-aware delivery: a subscription whose messages keep failing the same way on
different keys, with no success in between, pauses and probes, instead of spending
each message's attempts and parking it.

An outside service that is down (the mail server refusing connections) fails every
message, whatever it says; retrying each one to its limit parks them all and holds
every partition meanwhile. So when a failure has the same *shape* (its class and
message) as the failures of ``EVENTS_OUTAGE_KEYS`` different keys (partitions retrying
it, or dead letters parked with it in the last ``EVENTS_OUTAGE_WINDOW``) and none of
them began before the subscription's last successful delivery (a checkpoint's
``handled_at``; for a subscription that calls out, an outside call's success: its
local read-model updates go on while the mail server is down and show nothing of
it, ``Subscription.shows_working``), the subscription is paused (a
``SubscriptionPause`` row) and its failing messages keep their attempts: an outage
is not theirs. A failure that several
messages share while others succeed (a card the provider cannot process) is theirs:
the service works, so each is retried and parked as usual; so is a failure of one
key's message (a malformed address), whose shape matches no other key's.

While paused, the partitions whose front message failed wait; at ``probe_at`` one
drain probes: it delivers one message. A partition whose front message never failed
tries it whenever it comes (at most one call per partition before the outage holds
it too), so a healthy message is never kept waiting behind probes that fail. Success
anywhere resumes the subscription (every partition is woken); the outage's failure in
the probe doubles the wait before the next one (to a cap); another failure means the
outage is over and this message has a problem of its own, so the subscription resumes
and the message is retried and parked as usual.

Staff pause and resume by hand too (``manage.py events pause|resume``, the admin); a
pause by hand has no probe and lasts until resumed. Everything lives in the database:
any drain of any process sees the pause in the query that reads its checkpoint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Max
from django.utils import timezone

from ..models import Checkpoint, DeadLetter, SubscriptionPause
from .retries import Backoff

logger = logging.getLogger("events.delivery")

# A probe is one message: cheap. Capped at 30 s, the wait between probes keeps the
# time from a service's return to the subscription's resumption under half a minute
# (capped at 5 minutes, a 10-minute mail outage resumed 75 s after the server was back).
PROBE_BACKOFF = Backoff(base=timedelta(seconds=5), cap=timedelta(seconds=30))
PROBE_LEASE = timedelta(seconds=60)  # a probe that takes longer may be taken over


class PauseError(ValueError):
    """A staff pause or resume that does not apply (unknown, or not paused)."""


def shape(error: BaseException) -> str:
    """What identifies a failure: its class and message (the text stored as the
    checkpoint's ``last_error`` and the dead letter's ``error``)."""
    return f"{type(error).__name__}: {error}"[:4000]


@dataclass(frozen=True)
class Verdict:
    """What a failure of a paused or pausing subscription means for the message."""

    outage: bool  # the failure is the outage's: the message keeps its attempts
    probe_at: datetime | None = None


def judge(
    subscription: str,
    partition: int,
    key: str,
    error: BaseException,
    *,
    since: datetime,
) -> Verdict:
    """Called with the failing partition's checkpoint locked, in the unit of work
    that counts the failure (of a message failing ``since``): pause the subscription
    when this failure is an outage, or say that it belongs to the outage the
    subscription is paused for.

    Drains of other partitions may judge the same outage at once, each holding its
    own checkpoint: so the pause is inserted with ON CONFLICT DO NOTHING (a drain
    that lost the race waits for the winner's commit and then reads its row), and
    only the checkpoints that can be locked at once are reset (a checkpoint another
    drain holds is reset by that drain when it joins the pause). Waiting for each
    other's checkpoints, two such drains deadlocked."""
    text = shape(error)
    pause = (
        SubscriptionPause.objects.select_for_update()
        .filter(subscription=subscription)
        .first()
    )
    if pause is None:
        keys = _keys_failing(subscription, partition, key, text, since)
        if len(keys) < settings.EVENTS_OUTAGE_KEYS:
            return Verdict(False)
        pause = _pause(subscription, text, keys)
    if pause.error != text:
        return Verdict(False)  # a pause by hand, or another failure: counted as usual
    # This failure is the outage's, not its message's.
    Checkpoint.objects.filter(subscription=subscription, partition=partition).update(
        attempts=0
    )
    return Verdict(True, pause.probe_at)


# The pause is inserted unless another drain inserted it first (PostgreSQL waits for
# that drain's commit); the row count says which, as bulk_create(ignore_conflicts)
# cannot.
_PAUSE_SQL = (
    "INSERT INTO events_subscription_pause "
    '(subscription, reason, error, paused_at, probe_at, probes, "by") '
    "VALUES (%s, %s, %s, %s, %s, 0, '') ON CONFLICT (subscription) DO NOTHING"
)


def _pause(subscription: str, text: str, keys: set[str]) -> SubscriptionPause:
    """Pause for the outage (or find the pause a drain of another partition made
    meanwhile), and reset the attempts its failures spent so far on the partitions
    no other drain holds."""
    now = timezone.now()
    reason = f"{len(keys)} keys failing the same way: {text}"[:4000]
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            _PAUSE_SQL,
            [
                subscription,
                reason,
                text,
                adapt(now),
                adapt(now + PROBE_BACKOFF.delay(1)),
            ],
        )
        created = cursor.rowcount == 1
    pause = SubscriptionPause.objects.select_for_update().get(subscription=subscription)
    if not created:
        return pause
    free = (
        Checkpoint.objects.select_for_update(skip_locked=True)
        .filter(subscription=subscription, last_error=text)
        .values_list("id", flat=True)
    )
    Checkpoint.objects.filter(id__in=list(free)).update(
        attempts=0, retry_at=pause.probe_at
    )
    logger.warning(
        "%s: paused: %s (first probe at %s)", subscription, pause.reason, pause.probe_at
    )
    return pause


def _keys_failing(
    subscription: str, partition: int, key: str, text: str, since: datetime
) -> set[str]:
    """The keys failing with ``text`` since the subscription's last success: this
    one (failing ``since``), the other partitions retrying it, and the dead letters
    parked with it in the last ``EVENTS_OUTAGE_WINDOW``. A failure that began before
    a success is not an outage's: the subscription worked after it."""
    checkpoints = Checkpoint.objects.filter(subscription=subscription)
    last = checkpoints.aggregate(last=Max("handled_at"))["last"]
    began = {} if last is None else {"failing_since__gt": last}
    retrying = (
        checkpoints.filter(failing_offset__isnull=False, last_error=text, **began)
        .exclude(partition=partition)
        .values_list("failing_key", flat=True)
    )
    parked = DeadLetter.objects.filter(
        subscription=subscription,
        status=DeadLetter.Status.PARKED,
        error=text,
        parked_at__gte=timezone.now() - settings.EVENTS_OUTAGE_WINDOW,
        **began,
    ).values_list("key", flat=True)
    mine = {key} if last is None or since > last else set()
    return set(retrying) | set(parked) | mine


def is_outage(subscription: str, error: BaseException) -> bool:
    """Whether ``error`` is the failure the subscription is paused for."""
    return SubscriptionPause.objects.filter(
        subscription=subscription, error=shape(error)
    ).exists()


def claim_probe(subscription: str) -> bool:
    """Take the due probe (compare-and-set on ``probe_at``, so one drain of all
    processes probes at a time); False when another drain took it, or none is due."""
    now = timezone.now()
    return bool(
        SubscriptionPause.objects.filter(
            subscription=subscription, probe_at__lte=now
        ).update(probe_at=now + PROBE_LEASE)
    )


def probe_failed(subscription: str) -> datetime | None:
    """The probe met the outage again: the next one waits longer. Returns when."""
    pause = SubscriptionPause.objects.filter(subscription=subscription).first()
    if pause is None or pause.probe_at is None:
        return None
    pause.probes += 1
    pause.probe_at = timezone.now() + PROBE_BACKOFF.delay(pause.probes + 1)
    pause.save(update_fields=["probes", "probe_at"])
    logger.info(
        "%s: probe %s failed; next at %s", subscription, pause.probes, pause.probe_at
    )
    return pause.probe_at


def resume(subscription: str, *, why: str) -> bool:
    """End the pause (a probe succeeded, or staff said so). True if it was paused."""
    ended = SubscriptionPause.objects.filter(subscription=subscription).delete()[0]
    if ended:
        Checkpoint.objects.filter(subscription=subscription).update(retry_at=None)
        logger.warning("%s: resumed: %s", subscription, why)
    return bool(ended)


def pause_by_hand(subscription: str, *, reason: str, by: str) -> SubscriptionPause:
    """Staff pause a subscription until they resume it (no probe)."""
    if not reason.strip():
        raise PauseError("say why the subscription is paused (--reason)")
    pause, created = SubscriptionPause.objects.get_or_create(
        subscription=subscription,
        defaults={
            "reason": reason.strip(),
            "error": "",
            "paused_at": timezone.now(),
            "probe_at": None,
            "by": by,
        },
    )
    if not created:
        raise PauseError(f"{subscription} is already paused: {pause.reason}")
    logger.warning("%s: paused by hand by %s: %s", subscription, by or "staff", reason)
    return pause
