"""The one way tests and benchmarks wait for something another process does."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """A condition did not come true in time; the message says what was awaited."""


def wait_until(
    condition: Callable[[], T | None],
    what: str,
    timeout: float = 30.0,
    *,
    interval: float = 0.05,
    explain: Callable[[], str] | None = None,
) -> T:
    """Call ``condition`` every ``interval`` seconds until it returns something true,
    and return that; after ``timeout`` seconds raise :class:`WaitTimeout` naming
    ``what`` (with ``explain()`` appended: the state that would tell why). The
    condition may raise to stop the wait early (a process that exited). A condition
    that returns an optional value gives that value, never None."""
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        if time.monotonic() >= deadline:
            message = f"timed out after {timeout:g}s waiting for {what}"
            if explain is not None:
                message += f"\n{explain()}"
            raise WaitTimeout(message)
        time.sleep(interval)
    return found
