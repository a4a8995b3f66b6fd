"""The rounds of the fault suite: a load, a fault played beside it, the expected
causes of dead letters, and the order mix.

Each fault runs in a thread while the client places the round's orders, and returns
when it has ended (the moment the settling time is measured from, or the end of the
load if that is later):

* ``churn``: SIGKILL of both workers' process groups every ``every`` seconds;
  supervisord starts them again.
* ``redis_down``: ``kill -9`` of redis-server after ``lead`` seconds, started again
  (empty) ``outage`` seconds later.
* ``postgres``: a clean restart after ``lead`` seconds, then ``gap`` seconds later a
  ``kill -9`` of the whole server, started again 3 s later (crash recovery).
* ``mail_down``: the SMTP server closed (connections refused) for ``outage`` seconds.
* ``provider_errors``: no infrastructure fault; every 10th order pays with
  ``pm_card_error`` (the fake provider fails transiently: retried, then parked).
* ``last_unit``: 50 buyers at once for a product with one unit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .checks import Cause
from .load import Order

if TYPE_CHECKING:
    from processes.servers import PostgresCluster, RedisServer

    from .shop import MailServer, ProcessSet

PLENTY = tuple(f"FS-{n:02d}" for n in range(1, 11))
LAST = "FS-LAST"
SUCCEEDS, FAILS = "pm_card_visa", "pm_card_error"
# Every subscription retries a message that fails while its database restarts; one
# that kept failing past max_attempts would be parked with an OperationalError.
DATABASE_DOWN = r"OperationalError|InterfaceError|connection"


@dataclass
class Context:
    """What a fault acts on."""

    shop: ProcessSet
    redis: RedisServer
    postgres: PostgresCluster
    mail: MailServer
    tokens: list[str]
    events: list[str] = field(default_factory=list)  # what the fault did, when

    def note(self, what: str, start: float) -> None:
        self.events.append(f"{time.monotonic() - start:5.1f}s {what}")


Fault = Callable[[Context, float], float]  # (context, round start) -> fault end


@dataclass(frozen=True)
class Round:
    name: str
    fault: str  # in words, for the table's notes
    rate: float
    seconds: float
    play: Fault
    causes: tuple[Cause, ...] = ()
    every_failing: int = 0  # every n-th order pays with pm_card_error (0: none)
    race: int = 0  # that many buyers at once for the one unit of LAST

    def order(self, tokens: list[str]) -> Callable[[int], Order]:
        def make(number: int) -> Order:
            sku = PLENTY[number % len(PLENTY)]
            failing = self.every_failing and number % self.every_failing == 3
            return Order(
                token=tokens[number % len(tokens)],
                items=[{"sku": sku, "quantity": 1 + number % 3}],
                payment_method=FAILS if failing else SUCCEEDS,
            )

        return make


def _sleep_until(start: float, at: float) -> None:
    delay = start + at - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def churn(*, every: float, until: float) -> Fault:
    def play(ctx: Context, start: float) -> float:
        at = every
        while at < until:
            _sleep_until(start, at)
            for program in ("worker", "payments"):
                pid = ctx.shop.kill(program)
                ctx.note(f"SIGKILL {program} (pid {pid})", start)
            at += every
        return time.monotonic()

    return play


def redis_down(*, lead: float, outage: float) -> Fault:
    def play(ctx: Context, start: float) -> float:
        _sleep_until(start, lead)
        ctx.redis.kill()
        ctx.note("kill -9 redis-server", start)
        _sleep_until(start, lead + outage)
        ctx.redis.start()
        ctx.note("redis-server started (empty)", start)
        return time.monotonic()

    return play


def postgres(*, lead: float, gap: float) -> Fault:
    def play(ctx: Context, start: float) -> float:
        _sleep_until(start, lead)
        ctx.note("PostgreSQL fast shutdown", start)
        ctx.postgres.restart()
        ctx.note("PostgreSQL started", start)
        _sleep_until(start, lead + gap)
        ctx.postgres.kill()
        ctx.note("kill -9 PostgreSQL (postmaster and backends)", start)
        time.sleep(3)
        ctx.postgres.start()
        ctx.note("PostgreSQL started (crash recovery)", start)
        return time.monotonic()

    return play


def mail_down(*, outage: float) -> Fault:
    def play(ctx: Context, start: float) -> float:
        ctx.mail.stop()
        ctx.note("mail server down (connections refused)", start)
        _sleep_until(start, outage)
        ctx.mail.start()
        ctx.note("mail server up", start)
        return time.monotonic()

    return play


def nothing(ctx: Context, start: float) -> float:
    return time.monotonic()


MAIL_REFUSED = Cause(
    "notifications",
    r"ConnectionRefusedError|SMTPServerDisconnected|Connection refused",
    "mail server down (until outage-aware delivery pauses the subscription)",
)
PROVIDER_FAILED = Cause(
    "payments", r"ProviderUnavailable|provider", "pm_card_error: the provider failed"
)


def plan(*, quick: bool) -> list[Round]:
    """The rounds, in the order they are played."""
    if quick:
        return [
            Round("provider errors", "pm_card_error every 10th order", 2, 15,
                  nothing, (PROVIDER_FAILED,), every_failing=10),
            Round("worker churn", "SIGKILL of both workers every 7 s", 3, 21,
                  churn(every=7, until=21)),
            Round("Redis down 20 s", "kill -9 redis at 8 s, back at 28 s", 2, 35,
                  redis_down(lead=8, outage=20)),
            Round("PostgreSQL restart, kill -9", "restart at 5 s, kill -9 at 13 s",
                  2, 25, postgres(lead=5, gap=8)),
            Round("mail down 20 s", "SMTP refused 0-20 s", 2, 20,
                  mail_down(outage=20), (MAIL_REFUSED,)),
            Round("50 buyers, last unit", "50 orders at once for 1 unit", 0, 0,
                  nothing, race=50),
        ]  # fmt: skip
    return [
        Round("provider errors", "pm_card_error every 10th order", 3, 40,
              nothing, (PROVIDER_FAILED,), every_failing=10),
        Round("worker churn", "SIGKILL of both workers every 10 s", 5, 60,
              churn(every=10, until=60)),
        Round("Redis down 60 s", "kill -9 redis at 30 s, back at 90 s", 3, 120,
              redis_down(lead=30, outage=60)),
        Round("PostgreSQL restart, kill -9", "restart at 15 s, kill -9 at 35 s",
              3, 60, postgres(lead=15, gap=20)),
        Round("mail down 10 min", "SMTP refused 0-600 s", 1, 600,
              mail_down(outage=600), (MAIL_REFUSED,)),
        Round("50 buyers, last unit", "50 orders at once for 1 unit", 0, 0,
              nothing, race=50),
    ]  # fmt: skip
