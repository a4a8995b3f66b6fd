"""The development console (``make run``: ``manage.py runserver``, development
settings) prints each log line once."""

from __future__ import annotations

import pytest
import requests

from tests.support.servers import ShopServer, manage


@pytest.fixture
def development(tmp_path):
    """The environment of ``make run``, on a migrated SQLite database of its own."""
    env = {
        "DJANGO_SETTINGS_MODULE": "shop.settings.development",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "LOG_LEVEL": "INFO",
    }
    migrated = manage("migrate", "--noinput", env=env)
    assert migrated.returncode == 0, migrated.stderr
    return env


def test_the_development_console_prints_each_log_line_once(development):
    # given the development server
    with ShopServer(env=development) as server:
        # when a request is logged by Django (a 404 is a django.request warning) and
        # by the shop (an API error answer)
        assert requests.get(f"{server.url}/no-such-page", timeout=30).status_code == 404
        requests.get(f"{server.url}/api/v1/orders", timeout=30)
        output = server.stop()
    # then each line is printed once
    lines = output.splitlines()
    not_found = [line for line in lines if "Not Found: /no-such-page" in line]
    unauthorized = [line for line in lines if "Unauthorized: /api/v1/orders" in line]
    requested = [line for line in lines if '"GET /no-such-page HTTP' in line]
    assert len(not_found) == 1, output
    assert len(unauthorized) == 1, output
    assert len(requested) == 1, output  # runserver's own request line
    # in the shop's console format (shop/logs.py): level, then the logger's name
    assert "[warning" in not_found[0] and "[django.request]" in not_found[0]
