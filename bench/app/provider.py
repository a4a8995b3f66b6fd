"""The Black Friday bench's payment provider adapter: the fake provider, counting the
calls it has in flight in Redis.

Selected in the workers with ``PAYMENT_PROVIDER=bench.app.provider.CountingProvider``
(``bench/blackfriday/settings.py``). It answers exactly as ``FakeProvider`` does (same
latency, books and idempotency); around each call it moves three Redis counters, which
the bench process reads while the load runs (several worker threads, and the worker
processes, share them):

* ``IN_FLIGHT``: calls started and not finished (sampled by the bench);
* ``MAX_IN_FLIGHT``: the most ever seen at once, updated atomically at each start (so
  a peak between two samples is not missed);
* ``CALLS``: every call started (charges and refunds).

The counters live in the broker's Redis DB (``settings.REDIS_URL``), which the bench
flushes before each phase.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import cache
from typing import TypeVar

from django.conf import settings

import redis

from payments.provider import ChargeResult, FakeProvider, RefundResult

PREFIX = "bench:blackfriday:provider:"
IN_FLIGHT, MAX_IN_FLIGHT, CALLS = (
    f"{PREFIX}in_flight",
    f"{PREFIX}max_in_flight",
    f"{PREFIX}calls",
)
# One round trip, atomic: count the call and raise the peak if this one set a record.
_ENTER = """
redis.call('INCR', KEYS[3])
local now = redis.call('INCR', KEYS[1])
if now > tonumber(redis.call('GET', KEYS[2]) or '0') then
  redis.call('SET', KEYS[2], now)
end
return now
"""

T = TypeVar("T")


@cache
def client(url: str) -> redis.Redis:
    """One client (and connection pool, thread-safe) per process and URL."""
    return redis.Redis.from_url(url, socket_timeout=5)


def counters() -> redis.Redis:
    return client(settings.REDIS_URL)


class CountingProvider(FakeProvider):
    """``FakeProvider`` whose every call is counted in flight while it runs."""

    def charge(
        self,
        *,
        idempotency_key: str,
        amount: Decimal,
        currency: str,
        payment_method: str,
    ) -> ChargeResult:
        return _counted(
            lambda: super(CountingProvider, self).charge(
                idempotency_key=idempotency_key,
                amount=amount,
                currency=currency,
                payment_method=payment_method,
            )
        )

    def refund(self, *, idempotency_key: str, charge_reference: str) -> RefundResult:
        return _counted(
            lambda: super(CountingProvider, self).refund(
                idempotency_key=idempotency_key, charge_reference=charge_reference
            )
        )


def _counted(call: Callable[[], T]) -> T:
    """Run ``call`` with the in-flight counter raised; lowered however it ends."""
    redis_client = counters()
    redis_client.eval(_ENTER, 3, IN_FLIGHT, MAX_IN_FLIGHT, CALLS)
    try:
        return call()
    finally:
        redis_client.decr(IN_FLIGHT)


def read(redis_client: redis.Redis) -> tuple[int, int, int]:
    """(in flight now, most ever in flight, calls started)."""
    values = redis_client.mget(IN_FLIGHT, MAX_IN_FLIGHT, CALLS)
    now, peak, calls = (int(v or 0) for v in values)
    return now, peak, calls
