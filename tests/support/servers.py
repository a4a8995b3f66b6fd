"""Running the shop's own web server from a test, as a person or an operator runs it.

``ShopServer`` is a subprocess (``manage.py runserver --noreload``, the server of
``make run``, or any command given) in its own process group, with the environment the
test chooses (settings, ``DATABASE_URL``); its output (stdout and stderr together) is
collected line by line, and stopping it waits for its exit. ``manage`` runs one
``manage.py`` command the same way and returns its result.

Ports come from ``SHOP_TEST_PORTS`` (``8201-8219`` unless set): the first one free,
so tests running side by side on one machine stay within the range they were given.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence

import requests

from processes import BASE_DIR
from processes.groups import spare_port
from processes.waiting import wait_until


def free_port() -> int:
    """The first free port of ``SHOP_TEST_PORTS``."""
    first, _, last = os.environ.get("SHOP_TEST_PORTS", "8201-8219").partition("-")
    return spare_port(range(int(first), int(last or first) + 1))


def environment(extra: Mapping[str, str]) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", **extra}


def manage(
    *args: str, env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``manage.py <args>`` in a subprocess with ``env`` on top of this one's."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=environment(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class ShopServer:
    """One web server subprocess, serving ``url`` once :meth:`start` returns."""

    def __init__(
        self, *, env: Mapping[str, str], command: Sequence[str] | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = environment(env)
        self.command = list(command or ("manage.py", "runserver", "--noreload"))
        self.process: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None

    @property
    def output(self) -> str:
        with self._lock:
            return "".join(self.lines)

    def start(self, *, timeout: float = 60.0) -> ShopServer:
        """Start it and wait (bounded) until ``/health/live`` answers."""
        self.process = subprocess.Popen(
            [sys.executable, *self.command, f"127.0.0.1:{self.port}"],
            cwd=BASE_DIR,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            self._wait_live(timeout)
        except BaseException:
            self.stop()  # a server that did not come up is never left behind
            raise
        return self

    def _wait_live(self, timeout: float) -> None:
        assert self.process is not None
        process = self.process

        def live() -> bool:
            try:
                if requests.get(f"{self.url}/health/live", timeout=5).ok:
                    return True
            except requests.RequestException:  # not listening yet, or still loading
                pass
            if process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.output[-6000:]}")
            return False

        wait_until(
            live,
            f"{self.url}/health/live to answer",
            timeout=timeout,
            interval=0.1,
            explain=lambda: f"the server's output:\n{self.output[-6000:]}",
        )

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            with self._lock:
                self.lines.append(line)

    def stop(self, *, timeout: float = 20.0) -> str:
        """SIGTERM (then SIGKILL for its group, whatever is left of it: gunicorn's
        workers too); returns everything it printed."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # the whole group is gone
            self.process.wait(10)
            if self._reader is not None:
                self._reader.join(10)
        return self.output

    def __enter__(self) -> ShopServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
