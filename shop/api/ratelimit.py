"""Rate limits: fixed-window counters in the Django cache, per operation and scope.

``API_RATE_LIMITS`` maps an operation id (the view's name, e.g. ``place_order``) to its
limits by scope, each ``"<requests>/<seconds>"`` or ``"off"`` (a plain string is the
``caller`` scope alone). The scopes say who shares a counter:

- ``caller``: the customer of the bearer token; without one, the client address.
- ``client``: the client address (``shop.clients.client_address``: ``REMOTE_ADDR``, or
  the entry of ``X-Forwarded-For`` that ``TRUSTED_PROXY_COUNT`` proxies vouch for).
- ``client_account``: the client address and the account the body names (``email``).

Token requests are limited per ``client`` (one client trying many accounts is stopped)
and per ``client_account`` (guessing one account from one client is slow), never per
account alone: a stranger's failed guesses then use up the stranger's own windows and
never lock the owner, who asks from another address, out. The cost is that guesses
spread over many addresses are limited per address only; each one still costs the
guesser a password hash's time per try.

A window is the current multiple of ``seconds``; the first request of a window creates
its counter and every request increments it, atomically, so concurrent workers never
lose a count: on Django's Redis cache in one round trip (``SET NX`` with the window's
expiry, then ``INCR``, in one ``MULTI``/``EXEC``: the counter always expires), on
other caches with ``add`` then ``incr`` (atomic in the local-memory cache). Every
scope of the operation counts the request; if any is over its limit: 429 with
``Retry-After`` (the seconds left in the longest of the windows that refused).

In production the cache is the shared Redis (every worker and machine counts
together). If the cache is down, the limiter lets requests through and logs it: a
rate limit must not take the shop down with it.

Applied as a ninja operation decorator: it runs after authentication and validation,
so it knows the caller and counts only well-formed requests.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest

from shop.clients import client_address

logger = logging.getLogger(__name__)

SCOPES = {
    "caller": "from this caller",
    "client": "from this client address",
    "client_account": "for this account from this client address",
}


class RateLimited(Exception):
    def __init__(self, limit: int, seconds: int, retry_after: int, scope: str) -> None:
        super().__init__(
            f"at most {limit} requests per {seconds} s to this operation "
            f"{SCOPES[scope]}; retry in {retry_after} s"
        )
        self.retry_after = retry_after


def parse(rate: str) -> tuple[int, int] | None:
    """``"30/60"`` -> (30, 60); ``"off"`` -> None."""
    if rate.strip().lower() == "off":
        return None
    requests, _, seconds = rate.partition("/")
    limit, window = int(requests), int(seconds or "1")
    if limit < 0 or window < 1:
        raise ValueError(f"not a rate: {rate!r} (e.g. '30/60', or 'off')")
    return limit, window


def limits_for(operation: str) -> dict[str, tuple[int, int]]:
    """The operation's active limits by scope: {"client": (20, 300), ...}."""
    configured = settings.API_RATE_LIMITS.get(operation) or {}
    if isinstance(configured, str):
        configured = {"caller": configured}
    limits = {}
    for scope, rate in configured.items():
        if scope not in SCOPES:
            raise ValueError(
                f"API_RATE_LIMITS[{operation!r}]: unknown scope {scope!r} "
                f"(one of {', '.join(SCOPES)})"
            )
        rule = parse(rate) if rate else None
        if rule is not None:
            limits[scope] = rule
    return limits


def limited_operations() -> set[str]:
    return {name for name in settings.API_RATE_LIMITS if limits_for(name)}


def _counter(scope: str, request: HttpRequest, body: object) -> str:
    """Who shares a counter in this scope (see the module docstring)."""
    client = client_address(request) or "unknown"
    if scope == "caller":
        auth = getattr(request, "auth", None)
        return f"c:{auth}" if auth else f"a:{client}"
    if scope == "client":
        return f"a:{client}"
    email = getattr(body, "email", None)
    account = email.strip().lower() if isinstance(email, str) else ""
    # a digest: the cache holds no customer's email
    digest = hashlib.sha256(account.encode("utf-8", "surrogatepass")).hexdigest()
    return f"a:{client}:e:{digest[:32]}"


def _count(key: str, seconds: int) -> int:
    """Count one request in the window's counter; returns the count."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        return _count_in_redis(cache, key, seconds)
    try:
        cache.add(key, 0, timeout=seconds + 1)
        return cache.incr(key)
    except ValueError:  # evicted between add and incr: count from one
        cache.set(key, 1, timeout=seconds + 1)
        return 1


def _count_in_redis(cache: RedisCache, key: str, seconds: int) -> int:
    """One round trip instead of the cache API's three (``add``; ``incr``'s EXISTS
    and INCRBY, which could also recreate an expired counter with no expiry). The
    cache API has no atomic add-and-increment, so this uses the backend's redis-py
    client (``RedisCache._cache.get_client``, Django's own accessor for it) and its
    key naming (prefix and version), as ``add`` and ``incr`` would."""
    name = cache.make_and_validate_key(key)
    client = cache._cache.get_client(name, write=True)
    with client.pipeline(transaction=True) as pipeline:
        pipeline.set(name, 0, ex=seconds + 1, nx=True)
        pipeline.incr(name)
        _, count = pipeline.execute()
    return int(count)


def check(request: HttpRequest, operation: str, body: object = None) -> None:
    """Count this request in each of the operation's scopes; raise RateLimited when it
    is over any of their limits."""
    refused: list[RateLimited] = []
    now = time.time()
    for scope, (limit, seconds) in limits_for(operation).items():
        window = int(now // seconds)
        who = _counter(scope, request, body)
        key = f"ratelimit:{operation}:{scope}:{who}:{seconds}:{window}"
        try:
            count = _count(key, seconds)
        except Exception:
            logger.warning("rate limit cache unavailable; %s not limited", operation)
            return
        if count > limit:
            retry_after = max(1, math.ceil((window + 1) * seconds - now))
            refused.append(RateLimited(limit, seconds, retry_after, scope))
    if refused:
        raise max(refused, key=lambda error: error.retry_after)


def rate_limited(view: Callable[..., Any]) -> Callable[..., Any]:
    """The operation decorator (``api.add_decorator(rate_limited)``)."""
    operation = view.__name__

    @functools.wraps(view)
    def limited(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        check(request, operation, kwargs.get("body"))
        return view(request, *args, **kwargs)

    return limited
