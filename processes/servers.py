"""A Redis server and a PostgreSQL cluster of one's own, to kill and restart.

The fault suite (``make faults``) and the broker-outage test take their broker and
database down on purpose: never the shared services other tests and helpers use. The
scale bench (``make bench-scale``) needs more sessions than a shared server allows. Each
server here is a child process in a session of its own, on a port of its own (the
first free one of a range), with its files in a directory of its own, and nothing of
it is left once stopped.

* ``RedisServer``: ``redis-server --save "" --appendonly no``, so a restart after a
  ``kill -9`` comes back empty, as a broker that lost its memory would.
* ``PostgresCluster``: ``initdb`` (trust, loopback only) and ``postgres`` run directly
  (not through ``pg_ctl``), so SIGKILL of the process group is a crash of the whole
  server, its backends included, and the next start runs crash recovery. Run as root,
  the cluster's files and processes belong to the ``postgres`` user (PostgreSQL
  refuses to run as root). By default it is a throw-away server (``fsync`` and
  synchronous commit off: durability is not what a fault round tests); ``durable=True``
  keeps PostgreSQL's defaults, for a bench whose figures include the WAL flush.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from processes.groups import exited, reap_group, signal_group
from processes.waiting import wait_until


class ServerFailed(RuntimeError):
    """A server did not start, or is missing from this machine."""


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _binary(name: str, *candidates: str) -> str:
    for path in (shutil.which(name), *candidates):
        if path and os.access(path, os.X_OK):
            return path
    raise ServerFailed(f"{name} not found: install it (Debian: see .ci/run)")


class RedisServer:
    """``redis-server`` on ``port``; ``kill()`` it (SIGKILL) and ``start()`` it again
    on the same port, empty."""

    def __init__(self, *, port: int, log: Path) -> None:
        self.port = port
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, *, timeout: float = 15.0) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        command = [
            _binary("redis-server"),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.log.parent),
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(  # noqa: S603
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        proc = self.proc

        def listening() -> bool:
            if exited(proc):
                raise ServerFailed(f"redis-server exited; see {self.log}")
            return _listening(self.port)

        wait_until(listening, f"redis-server to listen on {self.port}", timeout)

    def kill(self) -> None:
        """SIGKILL: the broker vanishes with everything it held."""
        if self.proc is not None:
            signal_group(self.proc, signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and not exited(self.proc)

    def stop(self) -> None:
        self.kill()

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class PostgresCluster:
    """A throw-away PostgreSQL cluster in ``directory`` on ``port``."""

    def __init__(
        self,
        *,
        port: int,
        directory: Path,
        max_connections: int = 200,
        durable: bool = False,
    ) -> None:
        self.port = port
        self.directory = directory
        self.max_connections = max_connections
        self.durable = durable
        self.data = directory / "data"
        self.log = directory / "postgres.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._user = "postgres" if os.geteuid() == 0 else None

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _bin(self, name: str) -> str:
        found = shutil.which(name) or next(
            iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None
        )
        if not found:
            raise ServerFailed(f"{name} not found: install PostgreSQL's server")
        return str(found)

    def _own(self, path: Path) -> None:
        if self._user:
            entry = pwd.getpwnam(self._user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def create(self) -> None:
        """A new, empty cluster (any earlier one in the directory is removed)."""
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True)
        self._own(self.directory)
        subprocess.run(  # noqa: S603
            [
                self._bin("initdb"),
                "--pgdata",
                str(self.data),
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--no-sync",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            user=self._user,
        )

    def start(self, *, timeout: float = 60.0) -> None:
        """Start the server (after a kill: crash recovery first) and wait until it
        accepts connections."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(  # noqa: S603
                [
                    self._bin("postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.directory),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"max_connections={self.max_connections}",
                    *self._durability(),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                user=self._user,
            )
        proc = self.proc

        def ready() -> bool:
            if exited(proc):
                raise ServerFailed(f"postgres exited; see {self.log}")
            return self.ready()

        wait_until(ready, f"postgres to be ready on {self.port}", timeout, interval=0.1)

    def _durability(self) -> list[str]:
        if self.durable:
            return []
        # A test server: durability is not what is under test, and fsync on a shared
        # disk would only slow every round down.
        return [
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]

    def ready(self) -> bool:
        found = subprocess.run(  # noqa: S603
            [self._bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
            check=False,
        )
        return found.returncode == 0

    def restart(self) -> None:
        """A clean restart: fast shutdown (SIGINT: sessions are ended, a checkpoint
        is written), then start."""
        self.shutdown()
        self.start()

    def shutdown(self, *, grace: float = 30.0) -> None:
        if self.proc is None:
            return
        if not exited(self.proc):
            os.kill(self.proc.pid, signal.SIGINT)
        reap_group(self.proc, time.monotonic() + grace)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL of the postmaster and every backend at once: a crash."""
        if self.proc is not None:
            signal_group(self.proc, signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def create_database(self, name: str) -> None:
        subprocess.run(  # noqa: S603
            [
                self._bin("createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                name,
            ],
            check=True,
        )

    def destroy(self) -> None:
        """Stop the server at once and remove its files."""
        self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)
