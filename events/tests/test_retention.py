"""Retention: prune deletes old, consumed messages in bounded batches, and nothing a
subscription has not consumed yet."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

import pytest

from events.delivery.drain import drain
from events.log.outbox import publish
from events.log.partitions import partition_for
from events.models import InboxEntry, LogEntry
from events.ops import retention

from .support.messages import OtherHappened, ThingHappened

pytestmark = pytest.mark.django_db(transaction=True)


def emit(*messages, age=timedelta(0)):
    with transaction.atomic():
        items = publish(*messages)
    LogEntry.objects.filter(message_id__in=[i.message_id for i in items]).update(
        recorded_at=timezone.now() - age
    )
    return items


def test_prune_deletes_old_consumed_messages_only(subscribe, settings):
    # given a reader of t.things that has consumed the old messages, not the last one
    sub = subscribe("reader", topics=("t.things",))
    sub.on(ThingHappened)(lambda event, ctx: None)
    emit(*(ThingHappened(thing_id="a", n=i) for i in range(7)), age=timedelta(days=8))
    drain(sub, partition_for("a"))
    emit(ThingHappened(thing_id="a", n=99), age=timedelta(days=9))  # not consumed
    emit(ThingHappened(thing_id="a", n=100))  # recent
    # when, in batches of 3
    report = retention.prune_log(batch=3)
    # then
    assert report.deleted == {"t.things": 7}
    assert sorted(LogEntry.objects.values_list("payload__n", flat=True)) == [99, 100]


def test_topic_kept_forever_is_never_pruned(subscribe, settings):
    settings.EVENTS_RETENTION = {"t.other": None}
    emit(OtherHappened(thing_id="a"), age=timedelta(days=400))
    assert retention.prune_log().deleted == {}
    assert LogEntry.objects.count() == 1


def test_topic_without_readers_is_pruned_by_age(settings):
    settings.EVENTS_RETENTION = {"t.other": timedelta(hours=1)}
    emit(OtherHappened(thing_id="a"), age=timedelta(hours=2))
    emit(OtherHappened(thing_id="b"))
    assert retention.prune_log().deleted == {"t.other": 1}


def test_old_inbox_records_are_pruned(subscribe):
    sub = subscribe("reader", topics=("t.things",))
    sub.on(ThingHappened)(lambda event, ctx: None)
    emit(ThingHappened(thing_id="a"))
    drain(sub, partition_for("a"))
    InboxEntry.objects.update(handled_at=timezone.now() - timedelta(days=30))
    assert retention.prune_log().inbox_deleted == 1
