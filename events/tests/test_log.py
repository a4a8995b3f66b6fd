"""The log: atomic publish, gap-free per-partition offsets, envelopes, upcasting.

Runs on SQLite and, in the PostgreSQL pass, on PostgreSQL."""

from typing import cast
from uuid import uuid4

from django.db import transaction

import pytest

from events.log import partitions
from events.log.context import correlation_scope
from events.log.outbox import NotInTransaction, publish
from events.messages import UnknownMessageType, decode
from events.models import LogEntry

from .support.messages import Renamed, ThingHappened

pytestmark = pytest.mark.django_db(transaction=True)


def test_publish_outside_a_transaction_is_refused():
    # when / then
    with pytest.raises(NotInTransaction):
        publish(ThingHappened(thing_id="a"))
    assert LogEntry.objects.count() == 0


def test_rolled_back_transaction_leaves_no_message_and_no_offset_gap():
    # given a transaction that publishes and then fails
    with pytest.raises(RuntimeError), transaction.atomic():
        publish(ThingHappened(thing_id="a"))
        raise RuntimeError("the state change failed")
    # when the next one commits
    with transaction.atomic():
        (item,) = publish(ThingHappened(thing_id="a"))
    # then only it is in the log, at the partition's first offset
    assert LogEntry.objects.count() == 1
    assert item.offset == 1


def test_offsets_are_per_partition_and_contiguous():
    # given keys spread over partitions
    with transaction.atomic():
        items = publish(*(ThingHappened(thing_id=f"k{i}", n=i) for i in range(40)))
    # then each partition's offsets run 1..n, and a key always lands in one partition
    by_partition: dict[int, list[int]] = {}
    for row in LogEntry.objects.order_by("partition", "offset"):
        by_partition.setdefault(row.partition, []).append(row.offset)
    assert len(by_partition) > 1
    for offsets in by_partition.values():
        assert offsets == list(range(1, len(offsets) + 1))
    assert all(
        i.partition == partitions.partition_for(cast(ThingHappened, i.message).thing_id)
        for i in items
    )


def test_envelope_carries_ids_correlation_and_causation():
    correlation, cause = uuid4(), uuid4()
    # when
    with correlation_scope(correlation), transaction.atomic():
        (item,) = publish(
            ThingHappened(thing_id="x", n=7),
            causation_id=cause,
            headers={"source": "test"},
        )
    # then
    envelope = LogEntry.objects.get().envelope()
    assert envelope == item.envelope()
    assert (envelope.correlation_id, envelope.causation_id) == (correlation, cause)
    assert envelope.type == "t.ThingHappened" and envelope.topic == "t.things"
    assert envelope.key == "x" and envelope.headers == {"source": "test"}
    assert envelope.message() == ThingHappened(thing_id="x", n=7)


def test_messages_of_one_call_share_a_fresh_correlation_id():
    with transaction.atomic():
        a, b = publish(ThingHappened(thing_id="a"), ThingHappened(thing_id="b"))
    assert a.correlation_id == b.correlation_id and a.message_id != b.message_id


def test_every_stored_version_reads_as_the_current_one():
    # given a v1 and a v2 payload as they were stored
    v1 = {"thing_id": "t", "name": "Ada Lovelace"}
    v2 = {"thing_id": "t", "first": "Ada", "last": "Lovelace"}
    # then both upcast to v3
    expected = Renamed(thing_id="t", first="Ada", last="Lovelace", title="")
    assert decode("t.Renamed", 1, v1) == expected
    assert decode("t.Renamed", 2, v2) == expected


def test_unknown_wire_name_is_a_clear_error():
    with pytest.raises(UnknownMessageType, match="t.Nope"):
        decode("t.Nope", 1, {})


def test_messages_are_frozen():
    event = ThingHappened(thing_id="a")
    with pytest.raises(Exception, match="frozen"):
        event.n = 3  # type: ignore[misc]  # the refused assignment is the test
