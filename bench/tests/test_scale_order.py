"""The live raise's per-key order check (``bench.scale.repartition``): messages
recorded together share their ``handled_at``, and only their offsets order them."""

from datetime import UTC, datetime, timedelta

from bench.scale.repartition import Handled, handled_in_order

T0 = datetime(2026, 12, 3, tzinfo=UTC)


def at(ms: int, partition: int, offset: int) -> Handled:
    return Handled(T0 + timedelta(milliseconds=ms), partition, offset)


def test_messages_handled_one_after_another_are_in_order():
    assert handled_in_order([at(0, 3, 10), at(7, 3, 12), at(9, 11, 2)])


def test_one_record_of_a_partitions_run_is_in_offset_order():
    # given: two messages of the key recorded in one transaction (same handled_at)
    assert handled_in_order([at(0, 6, 96), at(0, 6, 100), at(5, 6, 104)])
    assert not handled_in_order([at(0, 6, 100), at(0, 6, 96)])


def test_a_later_message_handled_earlier_is_out_of_order():
    assert not handled_in_order([at(5, 3, 10), at(4, 11, 2)])


def test_a_tie_across_partitions_cannot_be_ordered():
    assert not handled_in_order([at(5, 3, 10), at(5, 11, 2)])
