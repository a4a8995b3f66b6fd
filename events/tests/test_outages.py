"""Outage-aware delivery (events.delivery.outages): the same failure on several keys
with no success in between pauses the subscription instead of parking every message;
probes with backoff resume it by themselves, and so does a message that never failed;
a failure of one message (even one repeated by other messages, between successes)
parks only those messages; staff pause and resume by hand. Drains are called
directly, so every step is deterministic. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

import pytest

from events.delivery.checkpoints import pending_targets
from events.delivery.drain import drain
from events.dispatch.current import set_dispatcher
from events.log.outbox import publish
from events.log.partitions import partition_for
from events.models import Checkpoint, DeadLetter, SubscriptionPause
from events.ops.metrics import platform_registry
from tests.effects.models import Effect

from .support.messages import Renamed, ThingHappened

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def mailer(subscribe):
    """A subscription sending a 'mail' per message through a server that is down
    until ``server["up"]``; a key ``bad-*`` is an address the server always refuses."""
    sub = subscribe("mailer", topics=("t.things",), max_attempts=3)
    server = {"up": False}

    @sub.on(ThingHappened)
    def send(event, ctx):
        if event.thing_id.startswith("bad"):
            raise ValueError(f"recipient {event.thing_id} refused")
        if not server["up"]:
            raise ConnectionRefusedError(111, "Connection refused")
        Effect.objects.create(label="mail", key=event.thing_id, value=event.n)

    return sub, server


@pytest.fixture
def charger(subscribe):
    """A subscription charging a card per message; the provider fails every charge
    of a key ``declined*`` the same way (a card it cannot process), and only those."""
    sub = subscribe("charger", topics=("t.things",), max_attempts=3)

    @sub.on(ThingHappened)
    def charge(event, ctx):
        if event.thing_id.startswith("declined"):
            raise RuntimeError("the provider failed to process the charge")
        Effect.objects.create(label="charge", key=event.thing_id, value=event.n)

    return sub


def keys_in_different_partitions(count: int, prefix: str = "k") -> list[str]:
    keys, seen = [], set()
    for i in range(1000):
        key = f"{prefix}{i}"
        if partition_for(key) not in seen:
            seen.add(partition_for(key))
            keys.append(key)
        if len(keys) == count:
            return keys
    raise AssertionError("not enough partitions")


def emit(*keys: str) -> None:
    with transaction.atomic():
        publish(*(ThingHappened(thing_id=key, n=1) for key in keys))


def drain_all(sub, rounds: int = 1) -> None:
    for _ in range(rounds):
        for partition in range(8):
            drain(sub, partition)
        Checkpoint.objects.filter(subscription=sub.name).update(retry_at=None)


def probe_now(name: str) -> None:
    SubscriptionPause.objects.filter(subscription=name).update(
        probe_at=timezone.now() - timedelta(seconds=1)
    )


def test_the_same_failure_on_several_keys_pauses_instead_of_parking(mailer):
    sub, server = mailer
    keys = keys_in_different_partitions(4)
    # given the mail server is down and four mails to send
    emit(*keys)
    # when the drains try many times over (more than max_attempts each)
    drain_all(sub, rounds=5)
    # then the subscription is paused, no mail is parked, and none was sent
    pause = SubscriptionPause.objects.get(subscription="mailer")
    assert "ConnectionRefusedError" in pause.reason and "keys failing" in pause.reason
    assert not DeadLetter.objects.exists()
    assert not Effect.objects.exists()
    # and status, and the metrics, say so
    out = StringIO()
    call_command("events", "status", "--subscription", "mailer", stdout=out)
    assert "mailer" in out.getvalue() and "paused: " in out.getvalue()
    assert " since " in out.getvalue()
    metrics = platform_registry()
    assert (
        metrics.get_sample_value(
            "events_subscription_paused", {"subscription": "mailer", "by_hand": "false"}
        )
        == 1
    )


def test_probes_back_off_while_the_outage_lasts_then_resume_by_themselves(mailer):
    sub, server = mailer
    keys = keys_in_different_partitions(4)
    emit(*keys)
    drain_all(sub, rounds=3)
    first = SubscriptionPause.objects.get(subscription="mailer")
    # when a probe falls due and the server is still down
    probe_now("mailer")
    drain_all(sub)
    # then the next probe is later, and still nothing is parked
    later = SubscriptionPause.objects.get(subscription="mailer")
    assert later.probes == first.probes + 1
    assert later.probe_at is not None and later.probe_at > timezone.now()
    assert not DeadLetter.objects.exists()
    # when the server is back and the next probe falls due
    server["up"] = True
    probe_now("mailer")
    drain_all(sub)
    # then the subscription resumed and every mail was sent exactly once
    assert not SubscriptionPause.objects.exists()
    sent = sorted(Effect.objects.filter(label="mail").values_list("key", flat=True))
    assert sent == sorted(keys)
    assert not DeadLetter.objects.exists()


def test_a_failure_of_one_message_parks_only_that_message(mailer):
    sub, server = mailer
    server["up"] = True
    (bad,) = keys_in_different_partitions(1, prefix="bad")
    good = [
        k
        for k in keys_in_different_partitions(5)
        if partition_for(k) != partition_for(bad)
    ]
    emit(bad, *good)
    drain_all(sub, rounds=4)
    # then only the bad address is parked, the others are sent, nothing paused
    assert list(DeadLetter.objects.values_list("key", flat=True)) == [bad]
    assert not SubscriptionPause.objects.exists()
    assert sorted(Effect.objects.values_list("key", flat=True)) == sorted(good)


def test_staff_pause_and_resume_a_subscription_by_hand(mailer):
    sub, server = mailer
    server["up"] = True
    out = StringIO()
    call_command(
        "events", "pause", "mailer", "--reason", "mail provider migration", stdout=out
    )
    assert "mailer paused since" in out.getvalue()
    emit(*keys_in_different_partitions(2))
    drain_all(sub, rounds=2)
    # then nothing is delivered while paused, and no probe is scheduled
    assert not Effect.objects.exists()
    assert SubscriptionPause.objects.get().probe_at is None
    # when staff resume it
    call_command("events", "resume", "mailer", stdout=StringIO())
    drain_all(sub)
    assert Effect.objects.count() == 2


class RecordingDispatcher:
    def __init__(self) -> None:
        self.woken: list[tuple[str, int]] = []

    def wake(self, targets):
        self.woken.extend(targets)


def test_resume_and_replay_wake_the_subscription_at_once(mailer):
    sub, server = mailer
    keys = keys_in_different_partitions(2)
    call_command(
        "events", "pause", "mailer", "--reason", "migration", stdout=StringIO()
    )
    emit(*keys)
    dispatcher = RecordingDispatcher()
    set_dispatcher(dispatcher)
    try:
        # when staff resume it, its partitions holding messages are woken (not left
        # to the next sweep)
        call_command("events", "resume", "mailer", stdout=StringIO())
        assert sorted(dispatcher.woken) == sorted(
            ("mailer", partition_for(key)) for key in keys
        )
        # and so are the partitions a replay moved
        dispatcher.woken.clear()
        moved = partition_for(keys[0])
        call_command(
            "events",
            "replay",
            "mailer",
            "--to-offset",
            "1",
            "--partition",
            str(moved),
            stdout=StringIO(),
        )
        assert dispatcher.woken == [("mailer", moved)]
    finally:
        set_dispatcher(None)


def test_pause_and_resume_refuse_clearly(mailer):
    with pytest.raises(CommandError, match="no subscription named 'nope'"):
        call_command("events", "pause", "nope", "--reason", "x")
    with pytest.raises(CommandError, match="mailer is not paused"):
        call_command("events", "resume", "mailer")
    call_command("events", "pause", "mailer", "--reason", "x", stdout=StringIO())
    with pytest.raises(CommandError, match="already paused"):
        call_command("events", "pause", "mailer", "--reason", "again")
    with pytest.raises(CommandError, match="say why"):
        call_command("events", "pause", "mailer", "--reason", " ")


def failing_and_healthy_keys(count: int) -> tuple[list[str], list[str]]:
    """``count`` keys the provider fails and ``count`` it charges, every one in a
    partition of its own."""
    failing = keys_in_different_partitions(count, prefix="declined")
    used = {partition_for(key) for key in failing}
    healthy = [
        key
        for key in keys_in_different_partitions(8, prefix="ok")
        if partition_for(key) not in used
    ][:count]
    assert len(healthy) == count
    return failing, healthy


def test_one_failure_on_several_keys_between_successes_parks_only_those(charger):
    failing, healthy = failing_and_healthy_keys(3)
    # given charges of three declined cards, each followed by a successful charge
    for declined, fine in zip(failing, healthy, strict=True):
        emit(declined)
        drain(charger, partition_for(declined))
        emit(fine)
        drain(charger, partition_for(fine))
    # when the failing ones are retried to their limit
    drain_all(charger, rounds=4)
    # then the subscription never paused: each failing message spent its own
    # attempts and was parked, and every other charge went through
    assert not SubscriptionPause.objects.exists()
    parked = DeadLetter.objects.values_list("key", "attempts")
    assert sorted(parked) == sorted((key, 3) for key in failing)
    charged = Effect.objects.values_list("key", flat=True)
    assert sorted(charged) == sorted(healthy)


def test_an_outage_after_successes_still_pauses(mailer):
    sub, server = mailer
    # given mails sent while the server was up
    server["up"] = True
    before = keys_in_different_partitions(4, prefix="early")
    emit(*before)
    drain_all(sub)
    assert Effect.objects.count() == 4
    # when the server goes down and every later mail fails
    server["up"] = False
    emit(*keys_in_different_partitions(4))
    drain_all(sub, rounds=5)
    # then the subscription is paused and no mail is parked
    assert "ConnectionRefusedError" in SubscriptionPause.objects.get().error
    assert not DeadLetter.objects.exists()
    assert Effect.objects.count() == 4


def test_a_healthy_message_ends_the_pause_while_probes_fail(charger):
    failing, healthy = failing_and_healthy_keys(3)
    # given three declined cards and no success in between: a pause
    emit(*failing)
    drain_all(charger)
    assert SubscriptionPause.objects.filter(subscription="charger").exists()
    # and a probe that fell on one of those messages and failed
    probe_now("charger")
    drain(charger, partition_for(failing[0]))
    pause = SubscriptionPause.objects.get()
    assert pause.probes == 1
    assert pause.probe_at is not None and pause.probe_at > timezone.now()
    # when a charge of another card comes while the next probe is not due
    (fine,) = healthy[:1]
    emit(fine)
    assert ("charger", partition_for(fine)) in pending_targets()
    drain(charger, partition_for(fine))
    # then it went through and ended the pause
    assert list(Effect.objects.values_list("key", flat=True)) == [fine]
    assert not SubscriptionPause.objects.exists()
    # and the declined ones are each retried to their limit and parked
    drain_all(charger, rounds=4)
    assert not SubscriptionPause.objects.exists()
    parked = DeadLetter.objects.values_list("key", "attempts")
    assert sorted(parked) == sorted((key, 3) for key in failing)


@pytest.fixture
def notifier(subscribe):
    """A subscription like the shop's notifications: a local read model of every
    key (``Renamed``, in the delivery transaction) and an outside 'mail' per
    ``ThingHappened``, through a server that is down until ``server["up"]``."""
    sub = subscribe("notifier", topics=("t.things",), max_attempts=3)
    server = {"up": False}

    @sub.on(Renamed)
    def remember(event, ctx):
        Effect.objects.create(label="view", key=event.thing_id, value=0)

    @sub.on(ThingHappened, outside=True)
    def send(event, ctx):
        if not server["up"]:
            raise ConnectionRefusedError(111, "Connection refused")
        Effect.objects.create(label="mail", key=event.thing_id, value=event.n)

    return sub, server


def test_local_successes_do_not_hide_an_outage_of_the_outside_calls(notifier):
    sub, server = notifier
    keys = keys_in_different_partitions(8)
    # given the mail server down while orders keep coming: each new key's local
    # read-model update succeeds between the mails' failures, round after round
    for number, key in enumerate(keys):
        with transaction.atomic():
            publish(Renamed(thing_id=key, first="A", last="B", title=""))
            publish(ThingHappened(thing_id=key, n=number))
        drain_all(sub)
    drain_all(sub, rounds=3)
    # then the subscription paused for the outage (its local successes show nothing
    # of the mail server), every view was kept, and no mail was parked
    assert "ConnectionRefusedError" in SubscriptionPause.objects.get().error
    assert Effect.objects.filter(label="view").count() == len(keys)
    assert not DeadLetter.objects.exists()
    # and a local success on a fresh key does not end the pause either
    (late,) = [k for k in keys_in_different_partitions(8, prefix="late")][:1]
    with transaction.atomic():
        publish(Renamed(thing_id=late, first="A", last="B", title=""))
    drain(sub, partition_for(late))
    assert SubscriptionPause.objects.exists()
    # when the server is back and a probe falls due, every mail goes out once
    server["up"] = True
    probe_now("notifier")
    drain_all(sub, rounds=2)
    assert not SubscriptionPause.objects.exists()
    sent = sorted(Effect.objects.filter(label="mail").values_list("key", flat=True))
    assert sent == sorted(keys)
    assert not DeadLetter.objects.exists()
