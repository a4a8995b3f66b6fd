"""A PostgreSQL cluster of a test's own, to stop and start while the shop serves.

Tests of a database outage must never touch the shared server (5432): this makes a
throw-away cluster with Debian's ``pg_createcluster`` on a spare port (the first free
one of ``SHOP_TEST_PG_PORTS``, ``5441-5445`` unless set), trusting local TCP
connections, starts it, and drops it (stopped, data and configuration removed) when
the ``with`` block ends, whatever happened inside it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from processes.waiting import wait_until


class ClusterError(RuntimeError):
    """The cluster tools are missing, or a cluster command failed."""


def _version() -> str:
    versions = sorted(
        (p.name for p in Path("/usr/lib/postgresql").glob("*") if p.name.isdigit()),
        key=int,
    )
    if not versions or shutil.which("pg_createcluster") is None:
        raise ClusterError(
            "pg_createcluster and a PostgreSQL server under /usr/lib/postgresql are "
            "needed (Debian's postgresql-common and postgresql packages)"
        )
    return versions[-1]


def _free_port() -> int:
    first, _, last = os.environ.get("SHOP_TEST_PG_PORTS", "5441-5445").partition("-")
    for port in range(int(first), int(last or first) + 1):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                continue  # something listens there
        if not any(
            line.split()[2] == str(port)
            for line in _run("pg_lsclusters", "--no-header").splitlines()
            if line.strip()
        ):
            return port
    raise ClusterError(f"no free port in {first}-{last} (SHOP_TEST_PG_PORTS)")


def _run(*command: str, timeout: float = 60) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise ClusterError(f"{' '.join(command)}: {done.stderr or done.stdout}")
    return done.stdout


class Cluster:
    """A running cluster: its port, a database URL, and stop/start."""

    def __init__(self, version: str, name: str, port: int) -> None:
        self.version, self.name, self.port = version, name, port

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Stop at once: open sessions are cut, as a crash or a failover would."""
        _run("pg_ctlcluster", self.version, self.name, "stop", "-m", "immediate")

    def start(self) -> None:
        _run("pg_ctlcluster", self.version, self.name, "start")
        self.wait_ready()

    def wait_ready(self, timeout: float = 30) -> None:

        def ready() -> bool:
            done = subprocess.run(
                ["pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-q"],
                capture_output=True,
            )
            return done.returncode == 0

        wait_until(
            ready,
            f"cluster {self.name} to be ready on {self.port}",
            timeout,
            interval=0.1,
        )

    def create_database(self, name: str) -> str:
        _run(
            "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name
        )
        return self.url(name)


@contextmanager
def own_cluster() -> Iterator[Cluster]:
    version = _version()
    name = f"shoptest{uuid.uuid4().hex[:8]}"
    port = _free_port()
    _run(
        "pg_createcluster",
        version,
        name,
        "--port",
        str(port),
        "--start",
        "--",
        "--auth=trust",
        timeout=120,
    )
    cluster = Cluster(version, name, port)
    try:
        cluster.wait_ready()
        yield cluster
    finally:
        _run("pg_dropcluster", version, name, "--stop", timeout=120)
