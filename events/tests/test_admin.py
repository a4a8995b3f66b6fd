"""Staff redrive and discard dead letters from the admin; the log is read-only. The
staff console's platform pages: checkpoints by lag, dead letters by failure with a
group redrive, the causation trace, each dead letter's own redrive."""

from django.contrib import messages
from django.contrib.auth.models import Permission, User
from django.db import transaction
from django.urls import reverse

import pytest

from events.delivery.drain import drain
from events.log.outbox import publish
from events.log.partitions import partition_for
from events.models import DeadLetter, LogEntry
from events.ops import failure_groups
from tests.effects.models import Effect

from .support.messages import ThingHappened

pytestmark = pytest.mark.django_db(transaction=True)


def test_staff_see_the_platform_pages(admin_client, parked):
    for model in ("logentry", "checkpoint", "deadletter"):
        response = admin_client.get(reverse(f"admin:events_{model}_changelist"))
        assert response.status_code == 200, model
    page = admin_client.get(reverse("admin:events_deadletter_change", args=[parked.id]))
    assert b"bad thing" in page.content


def test_redrive_action_delivers_once(admin_client, parked):
    url = reverse("admin:events_deadletter_changelist")
    for _ in range(2):
        response = admin_client.post(
            url, {"action": "redrive", "_selected_action": [parked.id]}, follow=True
        )
        assert response.status_code == 200
    assert Effect.objects.count() == 1
    assert DeadLetter.objects.get().status == "redriven"


def test_discard_action_keeps_the_record(admin_client, parked):
    url = reverse("admin:events_deadletter_changelist")
    admin_client.post(url, {"action": "discard", "_selected_action": [parked.id]})
    assert DeadLetter.objects.get().status == "discarded"


def test_log_cannot_be_edited_from_the_admin(admin_client, parked):
    entry = LogEntry.objects.get(type="t.ThingHappened")
    response = admin_client.post(
        reverse("admin:events_logentry_change", args=[entry.id]), {"key": "changed"}
    )
    assert response.status_code == 403
    assert LogEntry.objects.get(id=entry.id).key == "a"


# --- the staff console's platform pages ---------------------------------------------


def failing(subscribe, name="console"):
    """A subscription parking every message at its first failure, until fixed."""
    sub = subscribe(name, topics=("t.things",), max_attempts=1)
    state = {"broken": True}

    @sub.on(ThingHappened)
    def handle(event, ctx):
        if state["broken"]:
            raise ConnectionError(f"store down for {event.thing_id} after {event.n} s")
        Effect.objects.create(label=name, key=event.thing_id)

    def park(*things):
        for thing_id in things:
            with transaction.atomic():
                publish(ThingHappened(thing_id=thing_id, n=len(thing_id)))
            drain(sub, partition_for(thing_id))

    return park, state


def test_checkpoints_page_lists_head_and_lag_worst_first(admin_client, subscribe):
    # given a reader behind by two messages
    park, _ = failing(subscribe)
    late = subscribe("late-reader", topics=("t.things",))
    late.on(ThingHappened)(lambda event, ctx: None)
    park("x-1", "x-22")
    # when staff open the checkpoints
    page = admin_client.get(reverse("admin:events_checkpoint_changelist"))
    # then the most behind come first, with head, checkpoint and lag
    rows = page.context["rows"]
    assert rows[0].subscription == "late-reader" and rows[0].lag >= 1
    assert [r.lag for r in rows] == sorted((r.lag for r in rows), reverse=True)
    text = page.content.decode()
    assert "<th>head</th>" in text and "<th>lag (messages)</th>" in text
    assert "<th>lag (seconds)</th>" in text and "<th>retrying</th>" in text
    only = admin_client.get(
        reverse("admin:events_checkpoint_changelist"), {"subscription": "console"}
    )
    assert {r.subscription for r in only.context["rows"]} == {"console"}


def test_dead_letters_show_their_key_and_group_by_failure(admin_client, subscribe):
    park, _ = failing(subscribe)
    park("k-1", "k-22", "k-333")
    listing = admin_client.get(reverse("admin:events_deadletter_changelist"))
    text = listing.content.decode()
    # a key no app links is linked to its causation trace
    assert f"{reverse('admin:events_logentry_trace')}?q=k-22" in text
    assert "ConnectionError" in text and 'id="by-failure"' in text
    groups = admin_client.get(reverse("admin:events_deadletter_groups"))
    (group,) = groups.context["groups"]
    assert group.count == 3
    assert group.shape == "store down for k-<n> after <n> s"
    assert "store down for k-&lt;n&gt; after &lt;n&gt; s" in groups.content.decode()
    one = admin_client.get(reverse("admin:events_deadletter_group", args=[group.id]))
    assert one.status_code == 200
    assert 'id="redrive-group"' in one.content.decode()
    assert len(one.context["letters"]) == 3


def test_a_group_redrive_from_the_admin_stops_when_the_first_fails(
    admin_client, subscribe
):
    park, state = failing(subscribe)
    park("g-1", "g-22", "g-333")
    (group,) = failure_groups.groups()
    url = reverse("admin:events_deadletter_group_redrive", args=[group.id])
    failed = admin_client.post(url, follow=True)
    text = failed.content.decode()
    assert "failed again" in text and "held back 2 (the first one failed)" in text
    # told as a warning, not in the green of a success
    (summary,) = [m for m in failed.context["messages"] if "held back" in str(m)]
    assert summary.level == messages.WARNING
    assert Effect.objects.count() == 0
    state["broken"] = False
    done = admin_client.post(url, follow=True)
    assert "Redriven 3, failed 0" in done.content.decode()
    assert {m.level for m in done.context["messages"]} == {messages.SUCCESS}
    assert Effect.objects.count() == 3
    assert set(DeadLetter.objects.values_list("status", flat=True)) == {"redriven"}


def test_the_trace_page_shows_the_tree_with_receipts(admin_client, parked):
    page = admin_client.get(reverse("admin:events_logentry_trace"), {"q": "a"})
    text = page.content.decode()
    assert page.status_code == 200
    assert "t.ThingHappened" in text and "cli: parked" in text
    assert reverse("admin:events_deadletter_change", args=[parked.id]) in text
    unknown = admin_client.get(reverse("admin:events_logentry_trace"), {"q": "nope"})
    assert "no message has the id, correlation id or key" in unknown.content.decode()


def test_the_dead_letter_page_redrives_it(admin_client, parked):
    page = admin_client.get(reverse("admin:events_deadletter_change", args=[parked.id]))
    assert b"its failure group" in page.content
    done = admin_client.post(
        reverse("admin:events_deadletter_redrive", args=[parked.id]), follow=True
    )
    assert b"Redriven 1, failed 0" in done.content
    assert Effect.objects.count() == 1


def test_staff_without_the_permission_cannot_redrive(client, parked):
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_deadletter"))
    client.force_login(viewer)
    answer = client.post(reverse("admin:events_deadletter_redrive", args=[parked.id]))
    assert answer.status_code == 403
    assert DeadLetter.objects.get().status == "parked"
