"""The server under test for the API bench: ``gunicorn shop.wsgi`` as a subprocess.

It runs the way the Procfile's ``web`` process does (``--workers N --threads T``, the
gthread worker, an access log; only gunicorn's control socket is off) with
``shop.settings.production``, which reads everything from the environment the bench
gives it. It starts in a session of its own, so stopping it (TERM, then KILL of its
process group after a grace period) also ends its workers and nothing else.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from bench.common.health import live
from processes.groups import exited, stop_groups
from processes.waiting import wait_until

GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


class ServerFailed(RuntimeError):
    """gunicorn exited, or did not answer /health/live in time."""


def free_port() -> int:
    """A port nothing listens on now (the OS picks it; tiny race until bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Gunicorn:
    def __init__(
        self,
        *,
        env: dict[str, str],
        cwd: Path,
        log: Path,
        workers: int,
        threads: int,
        port: int,
    ) -> None:
        self.env, self.cwd, self.log = env, cwd, log
        self.workers, self.threads, self.port = workers, threads, port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def command(self) -> list[str]:
        return [
            GUNICORN,
            "shop.wsgi",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.workers),
            "--threads",
            str(self.threads),
            "--access-logfile",
            "-",
            # gunicorn 27's control socket has one default path per user: another
            # gunicorn on this machine (a developer's, a test's) would clash with it.
            "--no-control-socket",
        ]

    def describe(self) -> str:
        return " ".join(["gunicorn", *self.command[1:]])

    def start(self, *, timeout: float = 60.0) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(  # noqa: S603
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        proc = self.proc

        def up() -> bool:
            if exited(proc):
                raise ServerFailed(f"gunicorn exited; see {self.log}")
            return live(self.port)

        wait_until(up, "gunicorn to answer /health/live", timeout, interval=0.2)

    def check(self) -> None:
        if self.proc is None or exited(self.proc):
            raise ServerFailed(f"gunicorn is not running; see {self.log}")

    def stop(self, *, grace: float = 15.0) -> None:
        """Graceful stop (TERM: workers finish their requests), then KILL the group."""
        if self.proc is None:
            return
        stop_groups([self.proc], grace=grace)
        self.proc = None

    def __enter__(self) -> Gunicorn:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
