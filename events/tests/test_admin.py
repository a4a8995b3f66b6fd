"""Staff redrive and discard dead letters from the admin; the log is read-only."""

from django.urls import reverse

import pytest

from events.models import DeadLetter, LogEntry
from tests.effects.models import Effect

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
    entry = LogEntry.objects.get()
    response = admin_client.post(
        reverse("admin:events_logentry_change", args=[entry.id]), {"key": "changed"}
    )
    assert response.status_code == 403
    assert LogEntry.objects.get().key == "a"
