"""Admin logins are throttled by django-axes: after AXES_FAILURE_LIMIT wrong passwords
from one client address, that address is refused, the right password included, with a
clear page (429, Retry-After), until the cool-off has passed; other addresses are not.
Driven with Django's test client (REMOTE_ADDR set per client); tests/browser/ does it
once in Chromium."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

import pytest
from axes.models import AccessAttempt

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "staff-password-1"


@pytest.fixture
def staff() -> object:
    return get_user_model().objects.create_superuser(
        "staff", "staff@example.com", PASSWORD
    )


def log_in(client: Client, password: str, username: str = "staff"):
    return client.post(LOGIN, {"username": username, "password": password})


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_after_the_limit_the_right_password_is_refused_with_a_clear_page(
    staff, settings
):
    stranger = Client(REMOTE_ADDR="192.0.2.10")
    # when a client gets the password wrong as often as allowed
    answers = [
        log_in(stranger, f"guess {n}").status_code
        for n in range(settings.AXES_FAILURE_LIMIT)
    ]
    # then the last failure is already answered with the lockout page
    assert answers[:-1] == [200] * (settings.AXES_FAILURE_LIMIT - 1)
    assert answers[-1] == 429
    # and the right password from that address is refused as well
    refused = log_in(stranger, PASSWORD)
    assert refused.status_code == 429
    assert not logged_in(stranger)
    page = " ".join(refused.content.decode().split())
    assert "Too many failed logins" in page
    assert f"refused for {settings.AXES_COOLOFF_TIME.seconds // 60} minutes" in page
    assert int(refused["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()
    assert "admin/css/base.css" in page  # the admin's look, not a bare sentence


def test_a_strangers_failures_do_not_lock_staff_out_elsewhere(staff, settings):
    stranger = Client(REMOTE_ADDR="192.0.2.10")
    for n in range(settings.AXES_FAILURE_LIMIT + 2):
        log_in(stranger, f"guess {n}")
    # the owner, from another address, logs in
    owner = Client(REMOTE_ADDR="198.51.100.20")
    answer = log_in(owner, PASSWORD)
    assert answer.status_code == 302 and answer["Location"] == "/admin/"
    assert logged_in(owner)


def test_one_client_trying_many_usernames_is_locked_out(staff, settings):
    stranger = Client(REMOTE_ADDR="192.0.2.10")
    for n in range(settings.AXES_FAILURE_LIMIT):
        log_in(stranger, "password", username=f"admin{n}")
    assert log_in(stranger, PASSWORD).status_code == 429
    assert not logged_in(stranger)


def test_once_the_cooloff_has_passed_the_right_password_logs_in(staff, settings):
    stranger = Client(REMOTE_ADDR="192.0.2.10")
    for n in range(settings.AXES_FAILURE_LIMIT):
        log_in(stranger, f"guess {n}")
    assert log_in(stranger, PASSWORD).status_code == 429
    # given the failures are older than the cool-off (time passing, without waiting)
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )
    # then the right password logs in, and clears the count
    assert log_in(stranger, PASSWORD).status_code == 302
    assert logged_in(stranger)
    assert not AccessAttempt.objects.exists()


def test_a_few_mistakes_then_the_right_password_log_in(staff, settings):
    owner = Client(REMOTE_ADDR="198.51.100.20")
    for n in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(owner, f"typo {n}").status_code == 200
    assert log_in(owner, PASSWORD).status_code == 302
    assert logged_in(owner)
