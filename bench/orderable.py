"""``make bench-orderable`` (``python -m bench.orderable``): in the embedded run, how
soon a product that staff add from the command line can be ordered over HTTP.

The shop as ``make run`` serves it (runserver, development settings, SQLite, the in-
process dispatcher) on a database of the bench's own (``var/bench/orderable.sqlite3``,
migrated and seeded afresh). ``--products`` times (default 20): ``manage.py catalog
add`` in a process of its own; from the moment it returns, ``POST /api/v1/orders`` for
that product every ``--poll-ms`` until it is accepted (202). Printed: the median and the
longest time to orderable, next to the in-process dispatcher's watch period
(``EVENTS_INPROCESS_WATCH_SECONDS``) and its sweep period, and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench.api.server import free_port
from bench.common.cli import save_json, step, stop_on_signals
from processes.groups import stop_groups
from processes.waiting import wait_until

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASE = BASE_DIR / "var" / "bench" / "orderable.sqlite3"
PASSWORD = "bench-orderable-pw"
ADDRESS = {
    "name": "B",
    "line1": "1 Main St",
    "city": "Paris",
    "postal_code": "1",
    "country": "FR",
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.orderable")
    parser.description = __doc__.split("\n\n")[0]
    parser.add_argument("--products", type=int, default=20)
    parser.add_argument("--poll-ms", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=30.0, help="per product")
    parser.add_argument(
        "--out", type=Path, default=BASE_DIR / "var/bench/orderable.json"
    )
    args = parser.parse_args(argv)
    if args.products < 1 or args.poll_ms <= 0:
        parser.error("--products and --poll-ms must be positive")
    return args


def environment() -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "shop.settings.development",
        "DATABASE_URL": f"sqlite:///{DATABASE}",
        "API_RATE_LIMIT_PLACE_ORDER": "off",
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "WARNING",
    }


def manage(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout


def call(url: str, body: dict[str, Any], token: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read() or b"null")


def wait_up(root: str, *, timeout: float) -> None:
    def up() -> bool:
        try:
            with urllib.request.urlopen(f"{root}/health/live", timeout=1):
                return True
        except OSError:
            return False

    wait_until(up, f"{root}/health/live to answer", timeout, interval=0.1)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    stop_on_signals()
    DATABASE.parent.mkdir(parents=True, exist_ok=True)
    DATABASE.unlink(missing_ok=True)
    step("migrating and seeding a database of the bench's own (SQLite)")
    manage("migrate", "--noinput")
    manage("seed_demo")
    email = "orderable@example.com"
    manage("customers", "add", email, "--name", "Bench", "--password", PASSWORD)
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=BASE_DIR,
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    timings: list[float] = []
    try:
        wait_up(root, timeout=60)
        status, token = call(
            f"{root}/api/v1/tokens", {"email": email, "password": PASSWORD}
        )
        if status != 201:
            raise RuntimeError(f"no token: {status} {token}")
        for number in range(args.products):
            sku = f"ORDERABLE-{number}"
            manage(
                "catalog", "add", sku, "--name", sku, "--price", "5.00", "--stock", "9"
            )
            added = time.monotonic()
            order = {
                "items": [{"sku": sku, "quantity": 1}],
                "shipping_address": ADDRESS,
                "payment_method": "pm_card_visa",
            }
            while True:
                status, _ = call(f"{root}/api/v1/orders", order, token["token"])
                if status == 202:
                    timings.append(time.monotonic() - added)
                    break
                if time.monotonic() - added > args.timeout:
                    raise RuntimeError(f"{sku} not orderable after {args.timeout} s")
                time.sleep(args.poll_ms / 1000)
            step(f"{sku}: orderable {timings[-1] * 1000:.0f} ms after catalog add")
    finally:
        stop_groups([server], grace=10)
    load = os.getloadavg()
    results = {
        "products": args.products,
        "median_s": statistics.median(timings),
        "max_s": max(timings),
        "poll_ms": args.poll_ms,
        "watch_seconds": float(
            environment().get("EVENTS_INPROCESS_WATCH_SECONDS", 0.2)
        ),
        "load_average": load,
    }
    print(
        f"embedded run (runserver, SQLite, in-process dispatcher): a product added by "
        f"`manage.py catalog add` is orderable over HTTP after\n"
        f"  median {results['median_s'] * 1000:.0f} ms,"
        f" max {results['max_s'] * 1000:.0f} ms"
        f" over {args.products} products (polling every {args.poll_ms:g} ms; target:"
        f" within 1 s; the dispatcher reads the heads every"
        f" {results['watch_seconds']:g} s)\n"
        f"  load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    save_json(results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
