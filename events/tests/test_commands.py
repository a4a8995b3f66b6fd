"""``manage.py events``: what operators see, and clear errors with a non-zero exit."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

from django.core.management import CommandError, call_command
from django.db import transaction

import pytest

from events.log.outbox import publish
from events.log.partitions import partition_for
from events.models import Checkpoint, DeadLetter
from events.ops import failure_groups
from tests.effects.models import Effect

from .support.messages import ThingHappened

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("events", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_status_shows_lag_per_partition_and_dead_letters(parked):
    with transaction.atomic():
        publish(ThingHappened(thing_id="b"))
    out = run("status")
    assert f"cli{' ' * 25} {partition_for('b'):>4}" in out
    assert "total lag 1 messages" in out and "dead letters 1" in out


def test_deadletters_list_show_and_redrive_once(parked):
    assert "ValueError: bad thing" in run("deadletters", "list")
    shown = run("deadletters", "show", str(parked.id))
    assert "t.ThingHappened" in shown and "Traceback" in shown
    assert "redriven 1, failed 0, skipped 0" in run("deadletters", "redrive", "--all")
    assert "redriven 0, failed 0, skipped 1" in run(
        "deadletters", "redrive", str(parked.id)
    )
    assert Effect.objects.count() == 1


def test_deadletters_discard_keeps_the_record(parked):
    assert "discarded 1" in run("deadletters", "discard", str(parked.id))
    assert DeadLetter.objects.get().status == "discarded"


def test_replay_moves_checkpoints(parked):
    out = run("replay", "cli", "--to-offset", "1", "--partition", "0")
    assert "cli p0: checkpoint" in out and "-> 0" in out
    assert Checkpoint.objects.get(subscription="cli", partition=0).position == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["replay", "nope", "--to-offset", "1"], "no subscription named 'nope'"),
        (["replay", "cli", "--to-offset", "999"], "past the head"),
        (["deadletters", "show", "424242"], "no dead letter with id 424242"),
        (["deadletters", "redrive"], "give dead letter ids, or --all"),
        (["deadletters", "redrive", "1", "--all"], "give dead letter ids, or --all"),
        (["deadletters", "redrive", "424242"], "no dead letter with id 424242"),
        (["status", "--subscription", "nope"], "no subscription named 'nope'"),
    ],
)
def test_bad_input_is_a_clear_error(parked, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_trace_shows_a_parked_message_with_its_dead_letter(parked):
    out = run("trace", "a")
    lines = out.splitlines()
    assert lines[0].startswith("trace of a: 2 messages, correlation ")
    assert lines[1].startswith(f"- t.ThingHappened  p{partition_for('a')}@1  ")
    assert f"message {parked.message_id}" in lines[1]
    assert lines[2].split(maxsplit=2) == [
        "parked",
        "cli",
        f"dead letter #{parked.id} since {lines[2].split('since ')[1]}",
    ]
    assert lines[2].endswith("1 attempt: ValueError: bad thing")
    # the notice of the dead letter, caused by the message it parked
    assert lines[3].startswith("  - deadletters.MessageParked  ")


def test_trace_of_nothing_known_is_a_clear_error(parked):
    with pytest.raises(CommandError, match="no message has the id, correlation id"):
        run("trace", "b")


def test_bad_arguments_exit_non_zero_with_a_message():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "shop.settings.test"}
    for args, message in [
        (["replay", "x", "--since", "yesterday"], "not an ISO 8601 time"),
        (["replay", "x", "--to-offset", "-3"], "must be 0 or more: -3"),
        (["replay", "x", "--to-offset", "ten"], "not a whole number"),
        (["replay", "x"], "one of the arguments --to-offset --since is required"),
        (["explode"], "invalid choice: 'explode'"),
        (["trace"], "the following arguments are required: id"),
        (["trace", " "], "argument id: give an order id"),
        (["trace", "k" * 201], "201 characters (a key has at most 200)"),
        (["trace", "k", "--json", "--mermaid"], "not allowed with argument --json"),
    ]:
        done = subprocess.run(
            [sys.executable, "manage.py", "events", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode != 0, args
        assert message in done.stderr, (args, done.stderr)


def test_deadletters_list_takes_the_admins_search_and_groups_them(parked):
    assert "ValueError: bad thing" in run("deadletters", "list", "--key", "a")
    assert "0 dead letters" in run("deadletters", "list", "--key", "b")
    correlation = str(parked.correlation_id)
    assert "1 dead letters" in run("deadletters", "list", "--correlation", correlation)
    groups = run("deadletters", "groups")
    assert "1 dead letters in 1 failure groups" in groups
    assert "ValueError" in groups and "bad thing" in groups


def test_deadletters_redrive_a_group_by_its_id(parked):
    (group,) = failure_groups.groups()
    out = run("deadletters", "redrive", "--group", group.id)
    assert "redriven 1, failed 0" in out
    assert Effect.objects.count() == 1
    with pytest.raises(CommandError, match="no failure group"):
        run("deadletters", "redrive", "--group", group.id)
    with pytest.raises(CommandError, match="not together"):
        run("deadletters", "redrive", "--group", group.id, "--all")
