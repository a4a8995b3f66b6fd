"""Rebuilding a projection side by side: same rows as the live model, live updates
during the build kept, a failure leaves the live model untouched."""

from io import StringIO
from uuid import uuid4

from django.core.management import CommandError, call_command
from django.db import connection, transaction

import pytest

from events.delivery.drain import drain
from events.delivery.subscriptions import registry
from events.log import reader
from events.models import Checkpoint
from events.store import rebuild, repository
from tests.effects.models import TallyView

from .support.tally import Tally
from .support.tally_view import TallyViewProjection

pytestmark = pytest.mark.django_db(transaction=True)


def add(tally_id, *amounts):
    with transaction.atomic():
        tally = repository.load(Tally, tally_id)
        for amount in amounts:
            tally.add(amount)
        repository.save(tally)


def deliver_live():
    subscription = registry.get("t.tally-view")
    for partition in range(8):
        drain(subscription, partition)


def rows():
    return list(TallyView.objects.order_by("tally_id").values_list())


def test_rebuilt_read_model_equals_the_live_one_row_for_row():
    # given a live model fed by its subscription
    for n in range(20):
        add(uuid4(), *range(1, n % 5 + 2))
    deliver_live()
    live = rows()
    # when
    report = rebuild.rebuild(TallyViewProjection)
    # then
    assert rows() == live and not report.changed
    assert report.rows == {"effects_tally_view": 20}
    assert report.events == sum(n % 5 + 1 for n in range(20))
    assert "effects_tally_view__rebuild" not in connection.introspection.table_names()


def test_a_drifted_live_model_is_replaced_by_the_fold():
    tally_id = uuid4()
    add(tally_id, 5, 6)
    deliver_live()
    TallyView.objects.update(total=-1)  # a bug, or a hand edit
    report = rebuild.rebuild(TallyViewProjection)
    assert report.changed and TallyView.objects.get().total == 11


def test_messages_committed_during_the_build_are_in_the_switched_model():
    # given
    first, later = uuid4(), uuid4()
    add(first, 1)
    deliver_live()
    committed: list[bool] = []

    def during_build(count):
        if not committed:  # the live model keeps serving and updating meanwhile
            committed.append(True)
            add(later, 7)
            deliver_live()
            assert TallyView.objects.get(tally_id=later).total == 7

    # when
    rebuild.rebuild(TallyViewProjection, progress=during_build)
    add(first, 2)
    deliver_live()
    # then nothing is lost or applied twice, and the checkpoints continue from the fold
    assert dict(TallyView.objects.values_list("tally_id", "total")) == {
        first: 3,
        later: 7,
    }
    heads = reader.heads()
    for checkpoint in Checkpoint.objects.filter(subscription="t.tally-view"):
        assert checkpoint.position == heads[checkpoint.partition]


def test_a_failed_rebuild_leaves_the_live_model_untouched(monkeypatch):
    tally_id = uuid4()
    add(tally_id, 1, 13, 2)
    deliver_live()
    before = rows()
    checkpoints = list(Checkpoint.objects.values_list("partition", "position"))
    monkeypatch.setattr(TallyViewProjection, "broken_on", 13)  # the new code is buggy
    with pytest.raises(ValueError, match="cannot apply 13"):
        rebuild.rebuild(TallyViewProjection)
    assert rows() == before
    assert list(Checkpoint.objects.values_list("partition", "position")) == checkpoints
    assert "effects_tally_view__rebuild" not in connection.introspection.table_names()


def test_the_command_reports_speed_and_refuses_unknown_projections(capsys):
    add(uuid4(), 1, 2, 3)
    out = StringIO()
    call_command("events", "rebuild", "t.tally-view", stdout=out)
    assert "rebuilt t.tally-view: 3 events in" in out.getvalue()
    assert "events/s" in out.getvalue()
    assert "100%" in capsys.readouterr().err  # the progress bar, on stderr
    with pytest.raises(CommandError, match="no projection named 'nope'"):
        call_command("events", "rebuild", "nope")
