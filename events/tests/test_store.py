"""The event store: appends with expected versions, loads whole, up to a version or as
of a time, snapshots, and command retries on conflict. SQLite and PostgreSQL."""

from datetime import timedelta
from uuid import uuid4

from django.db import transaction
from django.utils import timezone

import pytest

from events.commands import bus
from events.commands.registry import command_handler, registry
from events.errors import ConcurrencyConflict
from events.log.outbox import NotInTransaction
from events.messages import Command
from events.models import LogEntry, Snapshot
from events.store import repository, streams

from .support.tally import Tallied, Tally

pytestmark = pytest.mark.django_db(transaction=True)


def add(tally_id, *amounts, expected=None):
    with transaction.atomic():
        tally = repository.load(Tally, tally_id)
        for amount in amounts:
            tally.add(amount)
        return repository.save(tally)


def test_appends_number_a_stream_from_one_and_publish_on_the_log():
    tally_id = uuid4()
    add(tally_id, 1, 2)
    add(tally_id, 3)
    rows = LogEntry.objects.filter(stream=f"tally-{tally_id}").order_by(
        "stream_version"
    )
    assert [(r.stream_version, r.payload["amount"]) for r in rows] == [
        (1, 1),
        (2, 2),
        (3, 3),
    ]
    assert {r.partition for r in rows} == {rows[0].partition}
    assert streams.current_version(f"tally-{tally_id}") == 3


def test_a_stale_expected_version_is_a_conflict_and_writes_nothing():
    tally_id = uuid4()
    add(tally_id, 1)
    stream = Tally.stream_for(tally_id)
    with pytest.raises(ConcurrencyConflict, match="expected at version 0, it is at 1"):
        with transaction.atomic():
            streams.append(
                stream, [Tallied(tally_id=tally_id, amount=5)], expected_version=0
            )
    assert streams.current_version(stream) == 1


def test_append_needs_a_transaction():
    with pytest.raises(NotInTransaction):
        streams.append(
            "tally-x", [Tallied(tally_id=uuid4(), amount=1)], expected_version=0
        )


def test_load_whole_up_to_a_version_and_as_of_a_time():
    tally_id = uuid4()
    add(tally_id, 1, 2, 3)
    stream = Tally.stream_for(tally_id)
    LogEntry.objects.filter(stream=stream, stream_version=3).update(
        recorded_at=timezone.now() + timedelta(hours=1)
    )
    assert repository.load(Tally, tally_id).state.total == 6
    assert repository.load(Tally, tally_id, upto_version=2).state.amounts == (1, 2)
    then = repository.load(Tally, tally_id, as_of=timezone.now() + timedelta(minutes=1))
    assert (then.version, then.state.total) == (2, 3)
    before = repository.load(Tally, tally_id, as_of=timezone.now() - timedelta(days=1))
    assert (before.version, before.state.total) == (0, 0)


def test_snapshots_are_taken_every_n_events_and_used_when_loading():
    tally_id = uuid4()
    for amount in range(1, 26):
        add(tally_id, amount)
    snapshots = Snapshot.objects.filter(stream=Tally.stream_for(tally_id))
    assert sorted(snapshots.values_list("version", flat=True)) == [10, 20]
    # a snapshot is used: corrupting the events it covers does not change the load
    LogEntry.objects.filter(
        stream=Tally.stream_for(tally_id), stream_version__lte=20
    ).update(payload={"tally_id": str(tally_id), "amount": 0})
    assert repository.load(Tally, tally_id).state.total == sum(range(1, 26))
    # and a snapshot of another shape is ignored, never mis-read
    snapshots.update(schema=99)
    assert repository.load(Tally, tally_id).state.total == sum(range(21, 26))


def test_a_load_reads_its_snapshot_and_the_events_after_it_in_one_statement():
    # given a tally with a snapshot at 10 and five events after it
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    tally_id = uuid4()
    for amount in range(1, 16):
        add(tally_id, amount)
    # when it is loaded now, up to a version, and a stream that does not exist
    with CaptureQueriesContext(connection) as queries:
        now = repository.load(Tally, tally_id)
        then = repository.load(Tally, tally_id, upto_version=12)
        new = repository.load(Tally, uuid4())
    # then each load was one statement, and the events folded in stream order
    assert len(queries) == 3
    assert (now.version, now.state.amounts) == (15, tuple(range(1, 16)))
    assert (then.version, then.state.amounts) == (12, tuple(range(1, 13)))
    assert (new.version, new.state.total) == (0, 0)


def test_execute_retries_a_command_that_lost_a_race_from_a_fresh_transaction():
    # given a handler whose first attempt writes, then loses a race
    tally_id, attempts = uuid4(), []

    class AddOne(Command):
        tally_id: object

    @command_handler(AddOne)
    def add_one(command):
        tally = repository.load(Tally, tally_id)
        tally.add(1)
        published = repository.save(tally)
        attempts.append(tally.version)
        if len(attempts) == 1:
            raise ConcurrencyConflict(tally.stream, 0)
        return published

    try:
        # when
        _, published = bus.execute(AddOne(tally_id=tally_id))
    finally:
        registry.unregister(AddOne)
    # then the first attempt's writes were rolled back and the retry committed once
    assert attempts == [1, 1]
    assert repository.load(Tally, tally_id).state.amounts == (1,)
    assert [p.stream_version for p in published] == [1]


def test_execute_gives_up_after_its_attempts():
    class Never(Command):
        n: int

    @command_handler(Never)
    def never(command):
        raise ConcurrencyConflict("tally-x", 0)

    try:
        with pytest.raises(ConcurrencyConflict):
            bus.execute(Never(n=1), attempts=3)
    finally:
        registry.unregister(Never)
