"""``make bench-blackfriday`` (``python -m bench.blackfriday``): does the shop keep
taking orders when the payment provider slows to 8 s and the mail server is down?

One run, phases with the same load and the same shop: the provider answering in 8 s,
then in 200 ms, then (``--rounds 2``, the default) in 200 ms and in 8 s again, so
that a machine that grows busier or quieter over the run weighs on both providers
alike (an ABBA order); the mail server refuses connections in all of them
(notifications fail, retry, dead-letter). The accept ratios are taken over each
provider's phases pooled. Each phase empties the database and the broker, starts
the two production workers (default queue, prefork, with the beat; payments queue,
threads), stocks the shop, puts one untimed order per placer through its whole
journey (so that no timed accept pays for a new session's or a handler's first run),
places orders open loop at a mean rate (Poisson arrivals,
the same instants in both phases of a round, new ones in each round:
``bench.blackfriday.arrivals``) through the
accept path (``events.bus.execute(PlaceOrder(...))`` in this process: no HTTP), waits
until every accepted order is final (or a bounded drain time after the last
placement), then reads the figures from the event log and the participants' books
and stops the workers. The table compares the two phases; the figures also go to
``var/bench/blackfriday.json``. Ctrl-C (or SIGTERM) stops the placers, the sampler
and every worker process group before exiting.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.blackfriday.arrivals import ARRIVALS, arrivals
from bench.common.cli import fill_defaults, require_positive, step, stop_on_signals

if TYPE_CHECKING:
    from bench.blackfriday.workers import Broker, Workers

SETTINGS = "bench.blackfriday.settings"
PROVIDER = "bench.app.provider.CountingProvider"
SEEDS = 100_000  # a run's seed is drawn below this unless --seed gives it
# (flag, with --quick, without): the flags whose default --quick changes
DEFAULTS = (
    ("rate", 4.0, 6.0),
    ("seconds", 8.0, 40.0),
    ("drain_seconds", 180.0, 480.0),
    ("rounds", 1, 2),
)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.blackfriday")
    parser.description = __doc__.split("\n\n")[0]
    add = parser.add_argument
    add("--quick", action="store_true", help="smoke run: 4 orders/s for 8 s")
    add("--rate", type=float, help="orders per second (default 6)")
    add("--seconds", type=float, help="placing time per phase (default 40)")
    add("--slow-ms", type=int, default=8000, help="provider latency, phase 1")
    add("--fast-ms", type=int, default=200, help="provider latency, phase 2")
    add("--partitions", type=int, help="EVENTS_PARTITIONS (default: settings, 8)")
    add(
        "--payments-concurrency",
        type=int,
        help="provider calls in flight per partition drain (PAYMENTS_CONCURRENCY;"
        " default: settings, 8)",
    )
    add(
        "--payment-threads",
        type=int,
        help="payments worker threads (default: one per partition drain)",
    )
    add(
        "--rounds",
        type=int,
        help="slow-fast pairs, every second one reversed (default 2; --quick 1)",
    )
    add("--prefork", type=int, default=2, help="default-queue worker processes")
    add("--placers", type=int, default=8, help="threads placing orders")
    add("--drain-seconds", type=float, help="longest wait after the last placement")
    add(
        "--arrivals",
        choices=list(ARRIVALS),
        default="poisson",
        help="when orders are due: Poisson (random, the same instants in both"
        " phases of a round; default) or evenly spaced",
    )
    add(
        "--seed",
        type=int,
        help="order mix and arrivals random seed of round 1, round r at seed + r - 1"
        " (default: drawn for this run, and printed)",
    )
    add("--out", type=Path, help="JSON (default var/bench/blackfriday.json)")
    args = parser.parse_args(argv)
    fill_defaults(args, DEFAULTS)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, SEEDS)
    require_positive(
        parser,
        args,
        ("rate", "seconds", "drain_seconds", "prefork", "placers", "rounds"),
    )
    return args


def closed_port() -> int:
    """A local TCP port nobody listens on: SMTP to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with socket.socket() as probe:
        probe.settimeout(1)
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise RuntimeError(f"port {port} answers; run the bench again")
    return port


def setup(args: argparse.Namespace) -> None:
    """The environment this process and its workers share, then Django."""
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    os.environ["PAYMENT_PROVIDER"] = PROVIDER
    os.environ["EMAIL_URL"] = f"smtp://127.0.0.1:{closed_port()}"
    if args.partitions:
        os.environ["EVENTS_PARTITIONS"] = str(args.partitions)
    if args.payments_concurrency:
        os.environ["PAYMENTS_CONCURRENCY"] = str(args.payments_concurrency)
    import django

    from bench.common import db

    try:
        db.check_target()
    except db.UnsafeDatabase as error:
        raise db.UnsafeDatabase(f"{error} (this bench: BLACKFRIDAY_DATABASE_URL)")
    if db.ensure_database():
        step(f"created database {db.describe()}")
    django.setup()
    db.migrate()


def payments_concurrency() -> tuple[int, str]:
    """Provider calls the payments subscription makes at once per partition, as the
    code in this tree has it: the subscription's ``concurrency`` option, or 1 when it
    has none (one drain per partition, one message at a time)."""
    from events.delivery.subscriptions import registry

    value = getattr(registry.get("payments"), "concurrency", None)
    if value is None:
        return 1, "Subscription has no concurrency option: one call per partition"
    return int(value), "Subscription(concurrency=...)"


def run(args: argparse.Namespace) -> dict[str, Any]:
    from django.conf import settings

    from bench.blackfriday.report import ratio_intervals, ratios
    from bench.blackfriday.workers import Broker
    from bench.common import db

    concurrency, note = payments_concurrency()
    bound = settings.EVENTS_PARTITIONS * concurrency
    threads = args.payment_threads or settings.EVENTS_PARTITIONS
    meta: dict[str, Any] = {
        "database": db.describe(),
        "postgres": db.server_settings(),
        "redis": settings.REDIS_URL,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "accept": "events.bus.execute(PlaceOrder) in the bench process; no HTTP",
        "rate": args.rate,
        "seconds": args.seconds,
        "arrivals": args.arrivals,
        "placers": args.placers,
        "smtp": os.environ["EMAIL_URL"].removeprefix("smtp://"),
        "partitions": settings.EVENTS_PARTITIONS,
        "payments_concurrency_asked": args.payments_concurrency or "-",
        "payments_concurrency": concurrency,
        "concurrency_note": note,
        "in_flight_bound": bound,
        "payment_threads": threads,
        "prefork": args.prefork,
        "drain_seconds": args.drain_seconds,
        "seed": args.seed,
        "quick": args.quick,
        "rounds": args.rounds,
        "load_before": os.getloadavg(),
    }
    started = time.perf_counter()
    broker = Broker()
    phases = {}
    try:
        for name, provider_ms, seed in schedule(args):
            phases[name] = phase(
                args,
                broker,
                provider_ms=provider_ms,
                seed=seed,
                bound=bound,
                payment_threads=threads,
            )
    finally:
        broker.release()
    meta["load_after"] = os.getloadavg()
    meta["elapsed_seconds"] = time.perf_counter() - started
    return {
        "meta": meta,
        "phases": phases,
        "ratios": ratios(phases.values()),
        "ratio_intervals": ratio_intervals(phases.values()),
    }


def schedule(args: argparse.Namespace) -> list[tuple[str, int, int]]:
    """The phases in order, named by provider and round, with their seed: slow, fast,
    then fast, slow in the second round, and so on. Both phases of a round share a
    seed (the same orders at the same instants); each round has its own, so a run
    does not rest on one draw of instants."""
    pair = [("slow", args.slow_ms), ("fast", args.fast_ms)]
    phases = []
    for number in range(1, args.rounds + 1):
        for name, ms in pair if number % 2 else pair[::-1]:
            label = f"{name}-{number}" if args.rounds > 1 else name
            phases.append((label, ms, args.seed + number - 1))
    return phases


def phase(
    args: argparse.Namespace,
    broker: Broker,
    *,
    provider_ms: int,
    seed: int,
    bound: int,
    payment_threads: int,
) -> dict[str, Any]:
    """One phase, from empty tables to figures; the workers are stopped on the way
    out, whatever happens."""
    from django.conf import settings

    from bench.blackfriday import figures, load, shop
    from bench.blackfriday.workers import Workers
    from bench.common import harness

    orders = round(args.rate * args.seconds)
    label = f"provider {provider_ms} ms"
    step(f"{label}: emptying the database and the broker")
    shop.reset()
    broker.flush()
    env = {**os.environ, "PAYMENT_PROVIDER_LATENCY_MS": str(provider_ms)}
    log_dir = Path(settings.BASE_DIR) / "var" / "bench"
    step(f"{label}: starting the workers")
    with Workers(
        env=env,
        concurrency=args.prefork,
        payment_threads=payment_threads,
        log_dir=log_dir,
        tag=f"{provider_ms}ms",
    ) as workers:
        step(f"{label}: stocking the shop")
        shop.seed(orders=orders)
        harness.wait_all_caught_up()
        customers = shop.customer_ids()
        planned = shop.plan(orders=orders, customers=customers, seed=seed)
        warm_up = shop.warm_up(count=args.placers, customers=customers)
        in_flight = load.InFlight()
        try:
            with load.Placers(args.placers, warm_up=warm_up) as placers:
                step(f"{label}: {len(warm_up)} untimed orders through their journeys")
                warm_ids = {str(order.command.order_id) for order in warm_up}
                wait_finished(warm_ids, workers=workers, seconds=args.drain_seconds)
                step(f"{label}: placing {orders} orders at {args.rate:g}/s")
                in_flight.start()
                load_at_start = os.getloadavg()[0]
                cpu_at_start = workers.cpu_seconds()
                due = arrivals(
                    len(planned), rate=args.rate, kind=args.arrivals, seed=seed
                )
                with progress(orders, "place") as bar:
                    placement = placers.place(planned, due=due, progress=bar.update)
            accepted = {
                str(p.planned.command.order_id) for p in placement.orders if p.accepted
            }
            step(f"{label}: waiting for {len(accepted)} accepted orders to finish")
            wait_finished(accepted, workers=workers, seconds=args.drain_seconds)
        finally:
            in_flight.stop()
        load_at_end = os.getloadavg()[0]
        cpu = {k: v - cpu_at_start[k] for k, v in workers.cpu_seconds().items()}
        result = figures.measure(
            placement,
            in_flight,
            stocked=shop.stocked(orders=orders),
            bound_per_second=bound / (provider_ms / 1000) if provider_ms else 0.0,
        )
        step(f"{label}: stopping the workers")
    return {
        "provider_ms": provider_ms,
        "seed": seed,
        "load_average": (load_at_start, load_at_end),
        "worker_cpu_seconds": cpu,
        **result,
    }


def wait_finished(accepted: set[str], *, workers: Workers, seconds: float) -> None:
    """Until every accepted order is final, or ``seconds`` have passed (the figures
    then count the unfinished ones)."""
    from bench.blackfriday import figures

    deadline = time.monotonic() + seconds
    with progress(len(accepted), "finish") as bar:
        while True:
            done = figures.finished(accepted)
            bar.update(done - bar.n)
            if done >= len(accepted):
                return
            if time.monotonic() > deadline:
                step(f"drain time over: {len(accepted) - done} orders unfinished")
                return
            workers.check()
            time.sleep(0.5)


def progress(total: int, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False, disable=None)


def main(argv: list[str] | None = None) -> int:
    from bench.common.cluster import database_server

    args = parse(argv)
    stop_on_signals()
    try:
        with database_server("BLACKFRIDAY_DATABASE_URL", "shop_bench_bf"):
            setup(args)
            results = run(args)
    except KeyboardInterrupt:
        print("interrupted; placers, sampler and workers stopped", file=sys.stderr)
        return 130
    except Exception as error:  # a clear message, not a traceback, for known trouble
        from bench.blackfriday.load import WarmUpFailed
        from bench.blackfriday.workers import BrokerBusy
        from bench.common.db import UnsafeDatabase
        from processes.celery_worker import WorkerFailed
        from processes.servers import ServerFailed
        from processes.waiting import WaitTimeout

        known = (
            BrokerBusy
            | WorkerFailed
            | UnsafeDatabase
            | WaitTimeout
            | ServerFailed
            | WarmUpFailed
        )
        if not isinstance(error, known):
            raise
        print(f"error: {error}", file=sys.stderr)
        return 1
    from bench.blackfriday import report
    from bench.common.report import publish

    publish(
        report.render(results),
        report.payload(results),
        out=args.out,
        name="blackfriday.json",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
