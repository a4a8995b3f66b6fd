"""A PostgreSQL cluster of a bench's own, unless the bench's variable names a database.

``make bench-scale``'s 16 worker processes and its live raise's 20, and ``make
bench-blackfriday``'s provider calls in flight (each holds a session while it waits:
``payments/handlers.py``), open more sessions than a shared server's
``max_connections`` (100 by default) leaves: on the shared server the scale bench
stopped with "too many clients", and the Black Friday bench's 8 s phase logged 1,500
refused connections and measured them. A bench measures the shop, not another user's
server: so each starts ``processes.servers.PostgresCluster`` on a spare port from
55450, with ``SESSIONS`` sessions and PostgreSQL's durable defaults (``fsync``,
synchronous commit: the figures include the WAL flush, as a production server's
would), and removes it when the bench ends, Ctrl-C included.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.common.cli import step
from processes.groups import spare_port
from processes.servers import PostgresCluster

PORTS = range(55450, 55470)
SESSIONS = 400


@contextmanager
def database_server(variable: str, database: str) -> Iterator[None]:
    """Run the block with ``variable`` naming a database the bench may use: the one
    it already names, or ``database`` on a cluster started here and destroyed after."""
    if os.environ.get(variable):
        yield
        return
    cluster = PostgresCluster(
        port=spare_port(PORTS),
        # Under the system's temporary directory: as root the cluster belongs to the
        # postgres user, who may not reach into a checkout under a home of mode 700.
        directory=Path(tempfile.mkdtemp(prefix="shop-bench-pg-")),
        max_connections=SESSIONS,
        durable=True,
    )
    try:
        cluster.create()
        cluster.start()
        cluster.create_database(database)
        os.environ[variable] = cluster.url(database)
        step(f"PostgreSQL cluster of its own on {cluster.port} ({SESSIONS} sessions)")
        yield
    finally:
        os.environ.pop(variable, None)
        cluster.destroy()
