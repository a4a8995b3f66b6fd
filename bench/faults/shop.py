"""The shop under test: the production process set run by supervisord, its mail server.

``ProcessSet`` writes a supervisord configuration of the suite's own (its socket, its
log and the programs' logs in the run directory) that includes the committed
``deploy/supervisor/shop.conf``, so the programs, their commands and their restart
policy are exactly production's: gunicorn (after migrate and collectstatic), ``celery
worker``, the payments worker (threads) and ``celery beat``, with
``shop.settings.production`` read from the environment the suite gives supervisord.
supervisord restarts what exits; the suite never restarts a program itself unless a
round ends with one given up (``FATAL``), which it counts as a manual step.

``MailServer`` is an SMTP server (aiosmtpd) in a thread of the suite: ``stop()``
closes its port, so every connection is refused, as with a mail server that is down.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import xmlrpc.client
from pathlib import Path
from typing import Any

from bench.common.health import live
from processes.groups import exited, stop_groups
from processes.waiting import wait_until

BASE_DIR = Path(__file__).resolve().parent.parent.parent
PROGRAMS = ("web", "worker", "payments", "beat")


class ShopFailed(RuntimeError):
    """supervisord or a program did not come up."""


class ProcessSet:
    """supervisord running ``deploy/supervisor/shop.conf`` with ``env``."""

    def __init__(self, *, run_dir: Path, env: dict[str, str], http_port: int) -> None:
        self.run_dir = run_dir
        self.env = env
        self.http_port = http_port
        self.config = run_dir / "supervisord.conf"
        self.socket = run_dir / "supervisor.sock"
        self.log = run_dir / "supervisord.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def write_config(self) -> None:
        logs = self.run_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        include = BASE_DIR / "deploy" / "supervisor" / "shop.conf"
        self.config.write_text(
            "\n".join(
                [
                    "; written by bench.faults: the committed process set, with this",
                    "; run's socket and logs",
                    "[supervisord]",
                    "nodaemon=true",
                    f"logfile={self.log}",
                    f"pidfile={self.run_dir / 'supervisord.pid'}",
                    f"childlogdir={logs}",
                    "[unix_http_server]",
                    f"file={self.socket}",
                    "chmod=0700",
                    "[supervisorctl]",
                    f"serverurl=unix://{self.socket}",
                    "[rpcinterface:supervisor]",
                    "supervisor.rpcinterface_factory = "
                    "supervisor.rpcinterface:make_main_rpcinterface",
                    "[include]",
                    f"files = {include}",
                    "",
                ]
            )
        )

    def start(self, *, timeout: float = 120.0) -> None:
        self.write_config()
        supervisord = str(Path(sys.executable).with_name("supervisord"))
        with (self.run_dir / "supervisord.out").open("ab") as out:
            self.proc = subprocess.Popen(  # noqa: S603
                [supervisord, "-c", str(self.config)],
                cwd=BASE_DIR,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.wait_running(PROGRAMS, timeout=timeout)

    def rpc(self) -> Any:
        from supervisor.xmlrpc import SupervisorTransport

        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def states(self) -> dict[str, tuple[str, int]]:
        """Program -> (state name, pid)."""
        infos = self.rpc().supervisor.getAllProcessInfo()
        return {info["name"]: (info["statename"], info["pid"]) for info in infos}

    def wait_running(self, names: tuple[str, ...], *, timeout: float) -> None:
        states: dict[str, tuple[str, int]] = {}

        def running() -> bool:
            nonlocal states
            if self.proc is None or exited(self.proc):
                raise ShopFailed(f"supervisord exited; see {self.log}")
            try:
                states = self.states()
            except OSError:  # its socket is not there yet
                states = {}
            if all(states.get(n, ("",))[0] == "RUNNING" for n in names):
                return "web" not in names or live(self.http_port)
            return False

        wait_until(
            running,
            f"{', '.join(names)} to run",
            timeout,
            interval=0.25,
            explain=lambda: f"states: {states}",
        )

    def kill(self, name: str) -> int:
        """SIGKILL a program with its process group (supervisord starts each in a
        group of its own), as a lost machine would; returns the pid killed."""
        _, pid = self.states()[name]
        if pid:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return pid

    def given_up(self) -> list[str]:
        """Programs supervisord stopped trying to start (a person would have to)."""
        return [n for n, (state, _) in self.states().items() if state == "FATAL"]

    def start_program(self, name: str) -> None:
        self.rpc().supervisor.startProcess(name, True)

    def stop(self, *, grace: float = 60.0) -> None:
        """supervisord stops every program (TERM, then KILL of each group after its
        stopwaitsecs), then exits; whatever is left is killed with its group."""
        if self.proc is not None:
            stop_groups([self.proc], grace=grace)
            self.proc = None


def environment(
    *,
    database_url: str,
    redis_url: str,
    http_port: int,
    smtp_port: int,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """Production settings for the shop's programs (and for this process)."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {
        **os.environ,
        "PATH": path,
        "DJANGO_SETTINGS_MODULE": "shop.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        # production refuses to start without the scrape token of /metrics
        "EVENTS_METRICS_TOKEN": secrets.token_urlsafe(32),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        "PORT": str(http_port),
        "WEB_CONCURRENCY": "2",
        "WORKER_CONCURRENCY": "2",
        # The client places every order of a round as one of few customers: the
        # per-customer limit (30/60) would refuse the load, not a fault.
        "API_RATE_LIMIT_PLACE_ORDER": "off",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        **(extra or {}),
    }


class MailServer:
    """An SMTP server on ``port`` that accepts every mail, until ``stop()``."""

    def __init__(self, *, port: int) -> None:
        self.port = port
        self.received = 0
        self._controller: Any = None

    def start(self) -> None:
        import logging

        from aiosmtpd.controller import Controller

        logging.getLogger("mail.log").setLevel(logging.WARNING)  # a line per command

        server = self

        class Count:
            async def handle_DATA(self, _server: Any, _session: Any, envelope: Any):
                server.received += 1
                return "250 OK"

        self._controller = Controller(Count(), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
