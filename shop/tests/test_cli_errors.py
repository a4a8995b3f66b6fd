"""manage.py against a database it cannot use: a sentence and exit 1, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "args",
    [("events", "status"), ("orders", "list"), ("events", "deadletters", "list")],
)
def test_a_database_that_is_not_migrated_is_named_with_the_fix(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    done = manage(*args, database_url=f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "migrations are not applied" in done.stderr
    assert "run `manage.py migrate` first" in done.stderr


def test_a_database_that_cannot_be_reached_says_so() -> None:
    # port 9 (discard) has no PostgreSQL server on any machine we run on
    done = manage("events", "status", database_url="postgres://nobody@127.0.0.1:9/x")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "the database cannot be reached" in done.stderr
    assert "check DATABASE_URL" in done.stderr


def test_traceback_still_shows_the_stack_when_asked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    done = manage("events", "--traceback", "status", database_url=url)
    assert done.returncode == 1
    assert "Traceback" in done.stderr
