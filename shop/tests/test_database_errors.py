"""A database error is an outage (503, retry later) only when the database cannot be
reached: one that answers raised it for a fault of ours, a 500 to fix. Through real
HTTP, against the development server of ``make run`` on a SQLite file."""

from __future__ import annotations

import requests

from tests.support.servers import ShopServer

PASSWORD = "correct horse battery"


def test_a_database_that_answers_but_was_never_migrated_is_a_500_not_a_wait(
    tmp_path,
):
    # given the development server on a SQLite file no migration ever ran on: the
    # database answers, its tables are missing (SQLite says so with the same
    # OperationalError a lost connection raises)
    env = {
        "DJANGO_SETTINGS_MODULE": "shop.settings.development",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'never-migrated.sqlite3'}",
        "EVENTS_DISPATCHER": "inprocess",
    }
    with ShopServer(env=env) as server:
        # when a client asks for a token
        answer = requests.post(
            f"{server.url}/api/v1/tokens",
            json={"email": "ann@example.com", "password": PASSWORD},
            timeout=30,
        )
        ready = requests.get(f"{server.url}/health/ready", timeout=30)
    # then it is a server error to fix, not "retry later", as /health/ready agrees
    # the database can be reached
    assert answer.status_code == 500, answer.text
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert "Retry-After" not in answer.headers
    assert ready.json()["checks"]["database"] == "ok"
