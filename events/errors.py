"""Errors shared across the platform's wings and the apps, so that entrypoints map
them in one place."""

from __future__ import annotations


class DomainError(Exception):
    """A command broke a business rule; nothing was recorded. The API maps every
    subclass to problem+json in one place, the CLI to a clear message."""


class ConcurrencyConflict(RuntimeError):
    """The stream is not at the version the writer expected: reload and decide again.

    Raised by an append that read a stale version, and by the log's writer when a
    concurrent writer took the version first (the unique constraint on stream and
    version); the bus retries the command, delivery retries the message."""

    def __init__(self, stream: str, expected: int, actual: int | None = None) -> None:
        found = (
            "another writer got there first" if actual is None else f"it is at {actual}"
        )
        super().__init__(f"stream {stream!r} expected at version {expected}, {found}")
        self.stream, self.expected, self.actual = stream, expected, actual
