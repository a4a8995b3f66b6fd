"""Outages on a real PostgreSQL: drains of different partitions that judge the same
outage at once (each with its own checkpoint locked) both pause, without a deadlock.

Each thread has its own connection (closed at its end) and a ``lock_timeout``, so a
regression shows as an error rather than a hang; the threads meet at a barrier inside
``judge`` (wrapping the real ``_keys_failing``), so both hold their checkpoint and have
counted the keys before either goes on."""

from __future__ import annotations

import threading
from typing import Any

from django.db import connection, connections, transaction

import pytest

from events.delivery import outages
from events.delivery.drain import drain
from events.log.outbox import publish
from events.log.partitions import partition_for
from events.models import Checkpoint, DeadLetter, SubscriptionPause

from .support.messages import ThingHappened
from .test_outages import keys_in_different_partitions

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class Drain(threading.Thread):
    """One drain of one partition in a thread of its own, keeping what it raised."""

    def __init__(self, subscription: Any, partition: int) -> None:
        super().__init__(name=f"drain-p{partition}", daemon=True)
        self.subscription, self.partition = subscription, partition
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '15s'")
            drain(self.subscription, self.partition)
        except BaseException as error:
            self.error = error
        finally:
            connections.close_all()


def test_drains_of_two_partitions_pausing_at_once_do_not_deadlock(
    subscribe, settings, monkeypatch
):
    sub = subscribe("mailer", topics=("t.things",), max_attempts=5)

    @sub.on(ThingHappened)
    def send(event, ctx):
        raise ConnectionRefusedError(111, "Connection refused")

    keys = keys_in_different_partitions(3)
    first, second = keys[:2]
    with transaction.atomic():
        publish(*(ThingHappened(thing_id=key, n=1) for key in keys))
    # given three partitions already retrying the same failure, counted while fewer
    # keys made an outage
    settings.EVENTS_OUTAGE_KEYS = 10
    for key in keys:
        drain(sub, partition_for(key))
    assert not SubscriptionPause.objects.exists()
    settings.EVENTS_OUTAGE_KEYS = 3
    Checkpoint.objects.filter(subscription="mailer").update(retry_at=None)
    # when two drains fail again at once, each inside judge with its checkpoint
    # locked before either goes on
    meet = threading.Barrier(2, timeout=30)
    counted = outages._keys_failing

    def keys_failing(*args: Any, **kwargs: Any) -> set[str]:
        found = counted(*args, **kwargs)
        meet.wait()
        return found

    monkeypatch.setattr(outages, "_keys_failing", keys_failing)
    drains = [Drain(sub, partition_for(first)), Drain(sub, partition_for(second))]
    for each in drains:
        each.start()
    for each in drains:
        each.join(60)
    assert not any(each.is_alive() for each in drains)
    # then neither failed: both failures are the outage's, and there is one pause
    assert [each.error for each in drains] == [None, None]
    (pause,) = SubscriptionPause.objects.filter(subscription="mailer")
    assert "ConnectionRefusedError" in pause.error
    # and both partitions hold at their message with its attempts reset, as does the
    # third partition failing the same way
    held = Checkpoint.objects.filter(
        subscription="mailer", partition__in=[partition_for(k) for k in keys]
    )
    assert sorted((c.failing_key, c.attempts) for c in held) == sorted(
        (key, 0) for key in keys
    )
    assert all(c.retry_at == pause.probe_at for c in held)
    assert not DeadLetter.objects.exists()
