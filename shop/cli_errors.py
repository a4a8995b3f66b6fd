"""What ``manage.py`` says when the database refuses a command: a sentence and exit
status 1, not a traceback. A database that is not migrated, or not reachable, is the
operator's to fix, and the words say how; ``--traceback`` still shows the stack."""

from __future__ import annotations

import sys
from collections.abc import Callable

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.utils import OperationalError, ProgrammingError


def pending_migrations() -> int | None:
    """How many migrations the database lacks (None when it cannot be asked)."""
    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
    except (OperationalError, ProgrammingError):
        return None


def in_words(error: OperationalError | ProgrammingError) -> str:
    pending = pending_migrations()
    if pending is None:
        return (
            f"the database cannot be reached ({error}); check DATABASE_URL and that "
            "the server is running, then try again"
        )
    if pending:
        return (
            f"the database is not set up: {pending} migrations are not applied "
            f"({error}); run `manage.py migrate` first"
        )
    return f"the database refused the command: {error}"


def run_command_line(execute: Callable[[list[str]], None], argv: list[str]) -> None:
    try:
        execute(argv)
    except (OperationalError, ProgrammingError) as error:
        if "--traceback" in argv:
            raise
        command = argv[1] if len(argv) > 1 else ""
        sys.stderr.write(f"manage.py {command}: {in_words(error)}\n")
        sys.exit(1)
