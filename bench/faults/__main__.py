"""``make faults`` (``python -m bench.faults``): the shop as production runs it,
faulted round by round while a client places orders over HTTP.

It starts a PostgreSQL cluster and a Redis server of its own (on spare ports, files
under ``var/faults/``), the production process set under supervisord
(``deploy/supervisor/shop.conf``: gunicorn, ``celery worker``, the payments worker,
``celery beat``, with ``shop.settings.production``), the fake payment provider and a
mail server it controls; stocks the shop; then plays the rounds of
``bench.faults.rounds``. After each round it waits for the shop to settle and checks
the invariants of ``bench.faults.checks`` from the database; it prints one table, the
load average, and exits 1 when an invariant broke. Everything it started is stopped
at the end, on an error and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common.cli import step, stop_on_signals

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATABASE = "shop_faults"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.faults")
    parser.description = __doc__.split("\n\n")[0]
    add = parser.add_argument
    add("--quick", action="store_true", help="short rounds (a few minutes in all)")
    add("--pg-ports", default="5433-5439", help="PostgreSQL port range to pick from")
    add("--redis-ports", default="6381-6389", help="Redis port range to pick from")
    add("--http-ports", default="8101-8119", help="ports for gunicorn and the mail")
    add("--customers", type=int, default=10)
    add("--settle-seconds", type=float, help="longest wait for a round to settle")
    add("--run-dir", type=Path, default=BASE_DIR / "var" / "faults")
    add("--only", action="append", help="play only rounds whose name starts so")
    return parser.parse_args(argv)


def ports(spec: str) -> range:
    low, _, high = spec.partition("-")
    return range(int(low), int(high or low) + 1)


@dataclass
class Result:
    name: str
    fault: str
    accepted: int = 0
    refused: int = 0  # out of stock at the door
    gave_up: int = 0  # the client never got a final answer
    server_errors: Counter[int] = field(default_factory=Counter)
    redis_down_5xx: int = 0
    lost: int = 0
    duplicated: int = 0
    double_charges: int = 0
    oversells: int = 0
    settle_seconds: float = 0.0
    settled: bool = True
    dead_letters: Counter[str] = field(default_factory=Counter)  # cause -> n
    unexplained: list[str] = field(default_factory=list)
    manual_steps: int = 0
    balanced: bool = True
    books: str = ""
    notes: list[str] = field(default_factory=list)
    load: tuple[float, float] = (0.0, 0.0)

    @property
    def broken(self) -> list[str]:
        broken = []
        if self.lost:
            broken.append(f"{self.lost} accepted orders lost")
        if self.duplicated:
            broken.append(f"{self.duplicated} orders duplicated")
        if self.double_charges:
            broken.append(f"{self.double_charges} double charges")
        if self.oversells:
            broken.append(f"{self.oversells} oversold products")
        if not self.settled:
            broken.append("did not settle")
        if not self.balanced:
            broken.append(f"charges != confirmed + refunded ({self.books})")
        if self.unexplained:
            broken.append(f"unexplained dead letters: {self.unexplained[:3]}")
        if self.manual_steps:
            broken.append(f"{self.manual_steps} manual steps")
        if self.gave_up:
            broken.append(f"{self.gave_up} orders never answered")
        return broken


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    stop_on_signals()
    from processes.groups import spare_port
    from processes.servers import PostgresCluster, RedisServer

    from .shop import MailServer, ProcessSet, environment

    run_dir = args.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    pg_port = spare_port(ports(args.pg_ports))
    redis_port = spare_port(ports(args.redis_ports))
    http_port = spare_port(ports(args.http_ports))
    smtp_port = spare_port(p for p in ports(args.http_ports) if p != http_port)
    # Under the system's temporary directory, not the run directory: as root the
    # cluster belongs to the postgres user, who may not reach into a checkout kept
    # under a home directory of mode 700.
    pg_dir = Path(tempfile.mkdtemp(prefix="shop-faults-pg-"))
    postgres = PostgresCluster(port=pg_port, directory=pg_dir)
    redis = RedisServer(port=redis_port, log=run_dir / "redis" / "redis.log")
    mail = MailServer(port=smtp_port)
    env = environment(
        database_url=postgres.url(DATABASE),
        redis_url=redis.url(),
        http_port=http_port,
        smtp_port=smtp_port,
    )
    shop = ProcessSet(run_dir=run_dir, env=env, http_port=http_port)
    load_before = os.getloadavg()
    started = time.monotonic()
    try:
        step(f"PostgreSQL on {pg_port}, Redis on {redis_port}, mail on {smtp_port}")
        postgres.create()
        postgres.start()
        postgres.create_database(DATABASE)
        redis.start()
        mail.start()
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        step(f"supervisord: the production process set, gunicorn on {http_port}")
        shop.start()
        results = play(args, shop=shop, redis=redis, postgres=postgres, mail=mail)
    finally:
        step("stopping the process set, the mail server, Redis and PostgreSQL")
        shop.stop()
        mail.stop()
        redis.stop()
        postgres.destroy()
    load_after = os.getloadavg()
    from .report import table

    print(
        table(
            results, load=(load_before, load_after), seconds=time.monotonic() - started
        )
    )
    broken = [f"{r.name}: {b}" for r in results for b in r.broken]
    for line in broken:
        print(f"INVARIANT BROKEN  {line}")
    failed = sum(1 for r in results if r.broken)
    print(f"faults: {len(results) - failed} passed, {failed} failed")
    return 1 if broken or not results else 0


def play(args: argparse.Namespace, **services: Any) -> list[Result]:
    from django.core.management import call_command

    from bench.common.harness import wait_all_caught_up
    from processes.waiting import WaitTimeout

    from . import rounds
    from .load import Client

    shop = services["shop"]
    client = Client(f"http://127.0.0.1:{shop.http_port}")
    for sku in rounds.PLENTY:
        call_command(
            "catalog", "add", sku, "--name", sku, "--price", "10.00",
            "--stock", "1000000", stdout=open(os.devnull, "w"),
        )  # fmt: skip
    step(f"{args.customers} customers through the API")
    tokens = [
        client.register(f"buyer{n}@faults.invalid", "fault-suite-password")
        for n in range(args.customers)
    ]
    wait_all_caught_up(timeout=120)
    ctx = rounds.Context(tokens=tokens, **services)
    settle = args.settle_seconds or (120.0 if args.quick else 240.0)
    results = []
    for plan in rounds.plan(quick=args.quick):
        if args.only and not any(plan.name.startswith(o) for o in args.only):
            continue
        step(f"round: {plan.name} ({plan.fault})")
        try:
            result = play_round(plan, ctx, client=client, settle=settle)
        except WaitTimeout as error:  # the shop did not settle from the round before
            result = Result(plan.name, plan.fault, settled=False, notes=[str(error)])
        results.append(result)
    return results


def play_round(plan: Any, ctx: Any, *, client: Any, settle: float) -> Result:
    from django.core.management import call_command
    from django.utils import timezone

    from bench.common.harness import wait_all_caught_up

    from . import checks, rounds
    from .load import HealthSampler, all_at_once, open_loop

    result = Result(plan.name, plan.fault)
    load_start = os.getloadavg()[0]
    ctx.events.clear()
    if plan.race:
        call_command(
            "catalog", "add", rounds.LAST, "--name", "Last unit", "--price", "99.00",
            "--stock", "1", stdout=open(os.devnull, "w"),
        )  # fmt: skip
        wait_all_caught_up(timeout=120)
    since = timezone.now()
    pids_before = {name: pid for name, (_, pid) in ctx.shop.states().items()}
    with HealthSampler(client) as health:
        start = time.monotonic()
        fault_end = [start]
        fault = threading.Thread(
            target=lambda: fault_end.__setitem__(0, plan.play(ctx, start)),
            name="fault",
            daemon=True,
        )
        fault.start()
        if plan.race:
            orders = [
                rounds.Order(
                    token=ctx.tokens[n % len(ctx.tokens)],
                    items=[{"sku": rounds.LAST, "quantity": 1}],
                    payment_method=rounds.SUCCEEDS,
                )
                for n in range(plan.race)
            ]
            outcomes = all_at_once(client, orders)
        else:
            make = plan.order(ctx.tokens)
            outcomes = open_loop(
                client, rate=plan.rate, seconds=plan.seconds, order=make
            )
        load_end = time.monotonic()
        fault.join()
        result.notes += ctx.events
        accepted = {i for o in outcomes if o.accepted for i in o.order_ids}
        result.accepted = len(accepted)
        result.refused = sum(1 for o in outcomes if o.refused)
        result.gave_up = sum(1 for o in outcomes if o.status is None)
        result.server_errors = Counter(s for o in outcomes for _, s in o.server_errors)
        if plan.name.startswith("Redis"):
            down = [e for e in ctx.events if "redis" in e]
            result.redis_down_5xx = redis_5xx(outcomes, start, down)
            result.notes.append(
                f"5xx answered while Redis was down: {result.redis_down_5xx}"
            )
        # settling: from the later of the fault's end and the last answer
        settled_from = max(fault_end[0], load_end)
        seconds, state = checks.wait_settled(accepted, timeout=settle)
        result.settled = not state.not_terminal and not state.lagging
        result.settle_seconds = max(0.0, time.monotonic() - settled_from)
        if not result.settled:
            result.notes.append(
                f"not settled after {settle:.0f}s: {len(state.not_terminal)} orders"
                f" open, lagging: {', '.join(state.lagging)}"
            )
    result.notes.append(health.summary())
    restarted = [
        name
        for name, (_, pid) in ctx.shop.states().items()
        if pid != pids_before.get(name)
    ]
    result.notes.append(
        f"programs restarted by supervisord: {', '.join(restarted) or 'none'}"
    )
    ended = checks.resilient(lambda: checks.outcomes(accepted))
    result.notes.append(
        "orders: " + ", ".join(f"{n} {how}" for how, n in ended.most_common())
    )
    # the books, from the database
    in_log = checks.resilient(lambda: checks.orders_placed_since(since))
    result.lost = len(accepted - in_log)
    result.duplicated = len(in_log - accepted) + sum(
        1 for o in outcomes if len(o.order_ids) > 1
    )
    books = checks.resilient(lambda: checks.books(stocked={rounds.LAST: 1}))
    result.double_charges = books.double_charges
    result.oversells = len(books.oversold)
    result.balanced = books.balanced
    result.books = (
        f"{books.charges} charges = {books.confirmed} confirmed"
        f" + {books.refunded} refunded"
    )
    for letter in checks.resilient(
        lambda: checks.dead_letters_since(since, plan.causes)
    ):
        if letter.cause:
            result.dead_letters[letter.cause] += 1
        else:
            result.unexplained.append(
                f"{letter.subscription} {letter.type}: {letter.error[:120]}"
            )
    for program in ctx.shop.given_up():
        result.manual_steps += 1
        result.notes.append(f"supervisord gave up on {program}: started by hand")
        ctx.shop.start_program(program)
    if plan.race:
        confirmed = checks.order_states(accepted)
        result.notes.append(
            f"last unit: {sum(1 for s in confirmed.values() if s == 'confirmed')}"
            f" confirmed, {result.refused} refused at the door,"
            f" {sum(1 for s in confirmed.values() if s == 'rejected')} rejected"
        )
    result.load = (load_start, os.getloadavg()[0])
    return result


def redis_5xx(outcomes: list[Any], start: float, events: list[str]) -> int:
    """5xx answers between the kill of Redis and its restart (from the fault's
    notes: "<t>s kill -9 redis-server", "<t>s redis-server started")."""
    if len(events) < 2:
        return 0
    down, up = (start + float(e.split("s", 1)[0]) for e in events[:2])
    return sum(1 for o in outcomes for t, _ in o.server_errors if down <= t <= up)


def run(argv: list[str] | None = None) -> int:
    """``main`` with a sentence, not a traceback, when a service cannot start."""
    from processes.groups import NoFreePort
    from processes.servers import ServerFailed
    from processes.waiting import WaitTimeout

    from .shop import ShopFailed

    try:
        return main(argv)
    except (ServerFailed, ShopFailed, NoFreePort, WaitTimeout) as error:
        print(f"faults: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("faults: interrupted; everything it started is stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(run())
