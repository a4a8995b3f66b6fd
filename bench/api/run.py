"""``python -m bench.api`` (``make bench-api``): placing orders through the REST API,
next to a minimal authenticated write and the raw ``GET /health/live`` of the same
server in the same run.

gunicorn serves ``shop.wsgi`` with ``bench.api.settings`` (``shop.settings.production``:
PostgreSQL, Redis, the Celery dispatcher; plus the bench-only ``POST /api/bench/write``,
``bench.api.write``) in a subprocess, as the Procfile's web process does. This process
seeds a catalogue through ``manage.py catalog add`` and one customer and one token per
virtual user through the API itself, brings the orders' read models up to date by
draining the log here (the availability and customer views that placing an order
consults), then drives closed-loop load, phase after phase at the same concurrency:
``GET /health/live``, the minimal write, ``POST /api/v1/orders``, the minimal write
again, ``GET /health/live`` again (each pair forms a base, on both sides of the
orders, so a drift of the machine during the run shows). No Celery worker runs:
accepting an order only appends ``OrderPlaced`` to the log in the request's
transaction; the wake-ups it sends after commit wait in Redis, drained by nobody.
Afterwards the log must hold exactly one ``OrderPlaced`` per 202 answered, and
``bench_row`` one row per 201 of the minimal write.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import secrets
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench.api import load as apiload
from bench.api import report as apireport
from bench.common.cli import fill_defaults, require_positive, step, stop_on_signals

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/shop_bench_api"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
# What TRUNCATE leaves alone: Django's own bookkeeping, filled by migrate.
KEEP_TABLES = frozenset({"django_migrations", "django_content_type", "auth_permission"})
PASSWORD = "bench-password-not-a-secret"
ADDRESS = {
    "name": "Bench User",
    "line1": "1 Load Street",
    "city": "Paris",
    "postal_code": "75001",
    "country": "FR",
}
# gunicorn sits behind a TLS proxy in production (SECURE_SSL_REDIRECT is on): the
# proxy's header makes a plain-HTTP request count as HTTPS, as it would there.
PROXY_HEADERS = {"X-Forwarded-Proto": "https", "Host": "127.0.0.1"}
TARGET_RATIO = 3.0  # place-order p50 / minimal-write p50
WRITE_PATH = "/api/bench/write"  # bench.api.urls only


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short phases (smoke)")
    parser.add_argument("--users", type=int, default=8, help="virtual users")
    parser.add_argument("--seconds", type=float, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, help="uncounted seconds per phase")
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WEB_CONCURRENCY", "2")),
        help="gunicorn workers (default WEB_CONCURRENCY or 2, as the Procfile)",
    )
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    parser.add_argument("--products", type=int, default=20, help="catalogue size")
    parser.add_argument(
        "--out", type=Path, help="JSON results (default var/bench/api.json)"
    )
    args = parser.parse_args(argv)
    fill_defaults(args, (("seconds", 3.0, 10.0), ("warmup", 1.0, 2.0)))
    require_positive(parser, args, ("seconds",))
    return args


def environment() -> dict[str, str]:
    """What gunicorn and this process run with: production settings, the bench's own
    database and Redis DB, a fresh SECRET_KEY, mail to nowhere, quiet logs."""
    redis_url = os.environ.get("BENCH_API_REDIS_URL", DEFAULT_REDIS_URL)
    return {
        # production's settings, plus the bench-only minimal write (bench.api.urls)
        "DJANGO_SETTINGS_MODULE": "bench.api.settings",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "DATABASE_URL": os.environ.get("BENCH_API_DATABASE_URL", DEFAULT_DATABASE_URL),
        "REDIS_URL": redis_url,
        "CACHE_URL": redis_url,  # the rate-limit counters, in the same Redis DB
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "EVENTS_DISPATCHER": "celery",
        "EMAIL_URL": "dummymail://",
        # The per-customer limit on placing orders stays on (its Redis counters are
        # part of the cost) but far above what the virtual users can reach.
        "API_RATE_LIMIT_PLACE_ORDER": "100000000/60",
        # Every virtual user asks for its token from this one client address.
        "API_RATE_LIMIT_TOKENS_PER_CLIENT": "off",
        # Production refuses to start without a scrape token for /metrics.
        "EVENTS_METRICS_TOKEN": secrets.token_urlsafe(32),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
    }


def setup(env: dict[str, str]) -> None:
    os.environ.update(env)
    import django

    from bench.common import db

    db.check_target()  # settings only: before anything touches the database
    if db.ensure_database():
        print(f"created database {db.describe()}", file=sys.stderr)
    django.setup()
    db.migrate()


def reset() -> None:
    """Empty every table but Django's bookkeeping, and the bench's Redis DB (the
    Celery queue, wake-up flags and any cache counters of an earlier run)."""
    from django.conf import settings
    from django.db import connection

    import redis

    tables = sorted(set(connection.introspection.table_names()) - KEEP_TABLES)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    redis.Redis.from_url(settings.REDIS_URL).flushdb()


def seed_products(count: int) -> list[str]:
    from django.core.management import call_command

    skus = [f"BENCH-{n:03d}" for n in range(count)]
    for sku in skus:
        call_command(
            "catalog",
            "add",
            sku,
            *("--name", f"Bench product {sku}", "--price", "12.50"),
            *("--stock", "1000000000"),
            stdout=io.StringIO(),
        )
    return skus


def seed_customers(host: str, port: int, users: int) -> list[str]:
    """One customer and one token per virtual user, through the API (in parallel:
    password hashing is the slow part)."""
    tokens: list[str | None] = [None] * users
    failures: list[str] = []

    def register(number: int) -> None:
        client = apiload.Client(host, port, PROXY_HEADERS)
        email = f"bench-{number}@example.com"
        try:
            for path, body, want in (
                (
                    "/api/v1/customers",
                    {"email": email, "name": f"Bench {number}", "password": PASSWORD},
                    201,
                ),
                ("/api/v1/tokens", {"email": email, "password": PASSWORD}, 201),
            ):
                status, data = client.send(("POST", path, _json(body), JSON))
                if status != want:
                    failures.append(f"POST {path}: {status} {data[:300]!r}")
                    return
            tokens[number] = json.loads(data)["token"]
        finally:
            client.close()

    threads = [threading.Thread(target=register, args=(n,)) for n in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"seeding customers failed: {failures[0]}")
    return [token for token in tokens if token is not None]


def catch_up() -> int:
    """Deliver everything in the log to every subscription, here and now (the bench
    runs no worker): the orders' availability and customer views must know the seeded
    products and customers before an order can be accepted. Returns messages seen."""
    from events.delivery.checkpoints import pending_targets
    from events.delivery.drain import drain
    from events.delivery.subscriptions import registry
    from events.log import reader

    rounds = 0
    while targets := pending_targets():
        rounds += 1
        if rounds > 50:
            raise RuntimeError(f"the log does not drain: {targets[:5]}")
        for name, partition in targets:
            drain(registry.get(name), partition)
    return sum(reader.heads().values())


def placed_orders() -> int:
    from events.models import LogEntry

    return LogEntry.objects.filter(type="orders.OrderPlaced").count()


def minimal_writes() -> int:
    from bench.app.models import Row

    return Row.objects.count()


JSON = {"Content-Type": "application/json"}


def _json(body: object) -> bytes:
    return json.dumps(body).encode()


def order_factory(tokens: list[str], skus: list[str]) -> apiload.RequestFactory:
    """User n's next order: one or two lines of the catalogue, its own token, and a
    fresh Idempotency-Key (as a storefront sends for every new order)."""
    counters = [0] * len(tokens)

    def make(user: int) -> apiload.Request:
        counters[user] += 1
        n = counters[user]
        lines = [{"sku": skus[(user + n) % len(skus)], "quantity": 1 + n % 3}]
        if n % 2:
            lines.append({"sku": skus[(user * 7 + n) % len(skus)], "quantity": 1})
        body = {
            "items": _merge(lines),
            "shipping_address": ADDRESS,
            "payment_method": "pm_card_visa",
        }
        headers = {
            **JSON,
            "Authorization": f"Bearer {tokens[user]}",
            "Idempotency-Key": str(uuid.uuid4()),
        }
        return ("POST", "/api/v1/orders", _json(body), headers)

    return make


def _merge(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per SKU (two picks of the same SKU add up)."""
    merged: dict[str, int] = {}
    for line in lines:
        merged[line["sku"]] = merged.get(line["sku"], 0) + line["quantity"]
    return [{"sku": sku, "quantity": quantity} for sku, quantity in merged.items()]


def write_factory(tokens: list[str]) -> apiload.RequestFactory:
    """User n's next minimal write: its own token, a small JSON body."""
    counters = [0] * len(tokens)

    def make(user: int) -> apiload.Request:
        counters[user] += 1
        headers = {**JSON, "Authorization": f"Bearer {tokens[user]}"}
        return ("POST", WRITE_PATH, _json({"value": counters[user]}), headers)

    return make


def health(user: int) -> apiload.Request:
    return ("GET", "/health/live", None, {})


def run(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    from django.conf import settings

    from bench.api.server import Gunicorn, free_port
    from bench.common import db

    started = time.perf_counter()
    step("emptying the bench database and Redis DB")
    reset()
    step(f"seeding {args.products} products")
    skus = seed_products(args.products)
    log_path = Path(settings.BASE_DIR) / "var" / "bench" / "gunicorn-api.log"
    server = Gunicorn(
        env={**os.environ, **env},
        cwd=Path(settings.BASE_DIR),
        log=log_path,
        workers=args.workers,
        threads=args.threads,
        port=free_port(),
    )
    results: dict[str, Any] = {
        "meta": {
            "database": db.describe(),
            "postgres": db.server_settings(),
            "redis": settings.REDIS_URL,
            "server": server.describe(),
            "settings": env["DJANGO_SETTINGS_MODULE"],
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "users": args.users,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "products": args.products,
            "ran": (
                "gunicorn only: no Celery worker or beat. Accepting an order appends"
                " OrderPlaced to the log in the request's transaction; its after-commit"
                " wake-ups wait in Redis, delivered by nobody during the run."
            ),
            "load_before": os.getloadavg(),
        }
    }
    step(f"starting {server.describe()}")
    with server:
        step(f"seeding {args.users} customers and tokens through the API")
        tokens = seed_customers("127.0.0.1", server.port, args.users)
        step("delivering the seeded messages (availability and customer views)")
        results["meta"]["seed_messages"] = catch_up()
        phases = []
        writes = write_factory(tokens)
        plan = (
            ("health", health, 200),
            ("write", writes, 201),
            ("orders", order_factory(tokens, skus), 202),
            ("write_after", writes, 201),
            ("health_after", health, 200),
        )
        cpu_before = time.process_time()
        loads: dict[str, tuple[float, float, float]] = {}
        for name, factory, want in plan:
            step(f"{name}: {args.users} users, {args.warmup:g}s + {args.seconds:g}s")
            loads[name] = os.getloadavg()
            phase = apiload.run_phase(
                name=name,
                host="127.0.0.1",
                port=server.port,
                headers=PROXY_HEADERS,
                factory=factory,
                users=args.users,
                seconds=args.seconds,
                warmup=args.warmup,
                expected_status=want,
            )
            server.check()
            phases.append(phase)
        cpu_used = time.process_time() - cpu_before
        step("stopping gunicorn")
    results["phases"] = {
        phase.name: {**phase.as_dict(), "load_before": loads[phase.name]}
        for phase in phases
    }
    by_name = {phase.name: phase for phase in phases}
    results["health"] = apireport.combine(by_name["health"], by_name["health_after"])
    results["write"] = apireport.combine(by_name["write"], by_name["write_after"])
    results["check"] = {
        "answered_202": by_name["orders"].all_expected,
        "orders_placed_in_log": placed_orders(),
        "answered_201": by_name["write"].all_expected
        + by_name["write_after"].all_expected,
        "rows_written": minimal_writes(),
    }
    total_seconds = len(plan) * (args.seconds + args.warmup)
    results["meta"]["client_cpu_share"] = cpu_used / total_seconds
    results["meta"]["load_after"] = os.getloadavg()
    results["meta"]["elapsed_seconds"] = time.perf_counter() - started
    results["target_ratio_p50"] = TARGET_RATIO
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    stop_on_signals()
    env = environment()
    try:
        setup(env)
        results = run(args, env)
    except KeyboardInterrupt:
        print("interrupted; gunicorn stopped", file=sys.stderr)
        return 130
    from bench.common.report import publish

    publish(apireport.render(results), results, out=args.out, name="api.json")
    return 0 if apireport.honest(results) else 1


if __name__ == "__main__":
    sys.exit(main())
