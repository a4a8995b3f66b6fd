"""``python -m bench.api.profile``: what one ``POST /api/v1/orders`` costs, counted.

The API bench (``bench.api``) says how long an order takes next to the minimal
authenticated write; this says where the time goes. In this process, with the API
bench's settings, database and Redis DB (``bench.api.settings``; the database is
emptied and seeded the same way), each request goes through Django's whole handler
and middleware (``django.test.Client``: no socket, no gunicorn) while these are
counted:

* PostgreSQL round trips, read from libpq's own protocol trace (``PQtrace``): every
  ``ReadyForQuery`` the server sends ends one, so BEGIN, COMMIT, savepoints and
  Django's connection health check (``CONN_HEALTH_CHECKS``) count as well as the
  statements; the time from the client's last message to that answer is the wait;
* SQL statements (Django's ``execute_wrapper``), BEGINs and COMMITs;
* Redis round trips (``send_packed_command``: a pipeline is one) and commands, with
  the time spent reading their answers;
* wall time; what is left after the waits is Python (this process's CPU, mostly,
  and its waits for a CPU on a busy machine), and the CPU time the request's thread
  used (``time.thread_time``: what a busy machine moves least).

A second pass places one more order and lists each round trip with the innermost
frame of this repository that caused it. Flags: ``--orders N`` (measured, default
50), ``--warmup N`` (default 10), ``--no-listing``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common.cli import step

ROOT = Path(__file__).resolve().parent.parent.parent
FIGURES = (
    ("db_round_trips", "PostgreSQL round trips"),
    ("statements", "SQL statements"),
    ("begins", "transactions (BEGIN)"),
    ("commits", "COMMITs"),
    ("redis_round_trips", "Redis round trips"),
    ("redis_commands", "Redis commands"),
    ("wall_ms", "wall ms"),
    ("db_ms", "PostgreSQL wait ms"),
    ("redis_ms", "Redis wait ms"),
    ("python_ms", "Python ms (the rest)"),
    ("cpu_ms", "CPU ms (this thread)"),
)


@dataclass
class Cost:
    """What one request cost; ``trips`` lists each round trip (with ``where``)."""

    db_round_trips: int = 0
    statements: int = 0
    begins: int = 0
    commits: int = 0
    redis_round_trips: int = 0
    redis_commands: int = 0
    wall_ms: float = 0.0
    cpu_ms: float = 0.0
    db_ms: float = 0.0
    redis_ms: float = 0.0
    trips: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def python_ms(self) -> float:
        return self.wall_ms - self.db_ms - self.redis_ms


class _Current(threading.local):
    cost: Cost | None = None
    where: bool = False


_current = _Current()


def _caller() -> str:
    """The innermost frame of this repository's code (not this module)."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        path = Path(frame.filename)
        if (
            ROOT in path.parents
            and ".venv" not in path.parts
            and path != Path(__file__)
        ):
            return f"{path.relative_to(ROOT)}:{frame.lineno} {frame.name}"
    return "?"


def _install_redis_hooks() -> None:
    """Count every Redis round trip and command of this thread's current probe."""
    from redis.connection import AbstractConnection

    send, read = (
        AbstractConnection.send_packed_command,
        AbstractConnection.read_response,
    )

    def send_packed_command(self: Any, command: Any, check_health: bool = True) -> Any:
        cost = _current.cost
        if cost is not None:
            pieces = command if isinstance(command, list) else [command]
            names = [_command_name(piece) for piece in pieces]
            names = [name for name in names if name]
            cost.redis_round_trips += 1
            cost.redis_commands += max(len(names), 1)
            if _current.where:
                cost.trips.append(("redis", _caller(), " ".join(names)[:90]))
        return send(self, command, check_health)

    def read_response(self: Any, *args: Any, **kwargs: Any) -> Any:
        cost = _current.cost
        began = time.perf_counter()
        try:
            return read(self, *args, **kwargs)
        finally:
            if cost is not None:
                cost.redis_ms += (time.perf_counter() - began) * 1000

    # the profile counts Redis round trips by replacing these methods for the run
    AbstractConnection.send_packed_command = send_packed_command  # type: ignore[method-assign]
    AbstractConnection.read_response = read_response  # type: ignore[method-assign]  # so too


def _command_name(piece: Any) -> str:
    """``SET`` from a packed RESP command (bytes or memoryview, the command first)."""
    data = bytes(piece[:80]) if not isinstance(piece, str) else piece[:80].encode()
    parts = data.split(b"\r\n")
    return parts[2].decode(errors="replace").upper() if len(parts) > 2 else ""


def _sql_counter(cost: Cost) -> Callable[..., Any]:
    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        cost.statements += 1
        if _current.where:
            cost.trips.append(("sql", _caller(), " ".join(sql.split())[:90]))
        return execute(sql, params, many, context)

    return wrapper


def _read_trace(text: str, cost: Cost) -> None:
    """Round trips, BEGIN/COMMIT and the wait of each, from a libpq trace."""
    last_sent: float | None = None
    for line in text.splitlines():
        stamp, direction, _, kind, *rest = line.split("\t") + [""]
        seconds = _stamp(stamp)
        if direction == "F":
            last_sent = seconds
            if kind == "Query" and rest and rest[0].strip() == '"BEGIN"':
                cost.begins += 1
            if kind == "Query" and rest and rest[0].strip() == '"COMMIT"':
                cost.commits += 1
        elif kind == "ReadyForQuery":
            cost.db_round_trips += 1
            if last_sent is not None:
                cost.db_ms += (seconds - last_sent) * 1000


def _stamp(text: str) -> float:
    clock = text.rsplit(" ", 1)[-1]
    hours, minutes, seconds = clock.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@contextmanager
def probe(*, where: bool = False) -> Iterator[Cost]:
    """Count what the block costs on this thread's database connection and Redis."""
    from django.db import close_old_connections, connection

    cost = Cost()
    # What the server's handler does at each request_started (the test client
    # skips it): the connection is kept (CONN_MAX_AGE) and checked again
    # (CONN_HEALTH_CHECKS: a SELECT 1 at the request's first query).
    close_old_connections()
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    with tempfile.TemporaryFile("w+") as trace:
        pgconn.trace(trace.fileno())
        _current.cost, _current.where = cost, where
        began, cpu = time.perf_counter(), time.thread_time()
        try:
            with connection.execute_wrapper(_sql_counter(cost)):
                yield cost
        finally:
            cost.wall_ms = (time.perf_counter() - began) * 1000
            cost.cpu_ms = (time.thread_time() - cpu) * 1000
            _current.cost, _current.where = None, False
            pgconn.untrace()
            trace.seek(0)
            _read_trace(trace.read(), cost)


def _client() -> Any:
    from django.test import Client

    return Client(HTTP_X_FORWARDED_PROTO="https", HTTP_HOST="127.0.0.1")


def _seed() -> tuple[str, list[str]]:
    """The API bench's catalogue, one customer and their token (through the API)."""
    from bench.api import run as api

    api.reset()
    skus = api.seed_products(3)
    client = _client()
    email = "profile@example.com"
    for path, body, want in (
        (
            "/api/v1/customers",
            {"email": email, "name": "P", "password": api.PASSWORD},
            201,
        ),
        ("/api/v1/tokens", {"email": email, "password": api.PASSWORD}, 201),
    ):
        response = client.post(path, body, content_type="application/json")
        if response.status_code != want:
            raise RuntimeError(f"seeding: POST {path}: {response.status_code}")
    token = response.json()["token"]
    api.catch_up()
    return token, skus


def _requests(token: str, skus: list[str]) -> dict[str, Callable[[int], Any]]:
    import uuid

    from bench.api import run as api

    client = _client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    def order(n: int) -> Any:
        body = {
            "items": [{"sku": skus[n % len(skus)], "quantity": 1}],
            "shipping_address": api.ADDRESS,
            "payment_method": "pm_card_visa",
        }
        return client.post(
            "/api/v1/orders",
            body,
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
            **auth,
        )

    def write(n: int) -> Any:
        return client.post(
            api.WRITE_PATH, {"value": n}, content_type="application/json", **auth
        )

    return {"POST /api/v1/orders": order, "POST /api/bench/write": write}


def measure(send: Callable[[int], Any], *, count: int, warmup: int) -> list[Cost]:
    costs = []
    for n in range(warmup + count):
        with probe() as cost:
            response = send(n)
        if response.status_code not in (201, 202):
            raise RuntimeError(f"unexpected answer {response.status_code}")
        if n >= warmup:
            costs.append(cost)
    return costs


def render(name: str, costs: list[Cost]) -> list[str]:
    lines = [f"{name}: median (min-max) of {len(costs)} requests"]
    for key, label in FIGURES:
        values = [getattr(cost, key) for cost in costs]
        median = statistics.median(values)
        fmt = ".2f" if key.endswith("_ms") else "g"
        lines.append(
            f"  {label:<28}{median:>9{fmt}}   ({min(values):{fmt}}-{max(values):{fmt}})"
        )
    return lines


def listing(name: str, cost: Cost) -> list[str]:
    lines = [f"{name}: each statement and Redis round trip, and who sent it"]
    counted: Counter[str] = Counter()
    for kind, where, text in cost.trips:
        counted[kind] += 1
        lines.append(f"  {kind:<6}{where:<58} {text}")
    lines.append(
        f"  ({counted['sql']} statements, {counted['redis']} Redis round trips; the"
        f" other {cost.db_round_trips - counted['sql']} PostgreSQL round trips are"
        " BEGIN, COMMIT and the connection's health check, SELECT 1)"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.api.profile", description=__doc__
    )
    parser.add_argument("--orders", type=int, default=50, help="measured requests")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured first")
    parser.add_argument("--no-listing", action="store_true", help="figures only")
    args = parser.parse_args(argv)
    from bench.api import run as api

    env = api.environment()
    api.setup(env)
    _install_redis_hooks()
    step("emptying and seeding the bench database")
    token, skus = _seed()
    out = [f"load average (1 min): {os.getloadavg()[0]:.2f}"]
    for name, send in _requests(token, skus).items():
        step(f"{name}: {args.warmup} + {args.orders} requests")
        out += render(name, measure(send, count=args.orders, warmup=args.warmup))
        if not args.no_listing:
            with probe(where=True) as cost:
                send(args.warmup + args.orders)
            out += listing(name, cost)
    out.append(f"load average (1 min): {os.getloadavg()[0]:.2f}")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
