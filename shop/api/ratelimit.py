"""Rate limits per caller: fixed-window counters in the Django cache.

``API_RATE_LIMITS`` maps an operation id (the view's name, e.g. ``place_order``) to
``"<requests>/<seconds>"`` (or ``"off"``). A window is the current multiple of
``seconds``; the first request of a window creates its counter (``add``, atomic) and
every request increments it (``incr``, atomic in Redis and in the local-memory cache),
so concurrent workers never lose a count. Over the limit: 429 with ``Retry-After`` (the
seconds left in the window). Callers are told apart by their customer id; an
unauthenticated operation whose body names an account (``email``: asking for a token)
counts per account, so guessing one customer's password is limited however many
addresses the guesses come from (and behind a proxy, where every client has the
proxy's address); any other by client address.

In production the cache is the shared Redis (every worker and machine counts
together). If the cache is down, the limiter lets requests through and logs it: a
rate limit must not take the shop down with it.

Applied as a ninja operation decorator: it runs after authentication and validation,
so it knows the caller and counts only well-formed requests.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

logger = logging.getLogger(__name__)


class RateLimited(Exception):
    def __init__(self, limit: int, seconds: int, retry_after: int) -> None:
        super().__init__(
            f"at most {limit} requests per {seconds} s to this operation; "
            f"retry in {retry_after} s"
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


def limit_for(operation: str) -> tuple[int, int] | None:
    rate = settings.API_RATE_LIMITS.get(operation)
    return parse(rate) if rate else None


def limited_operations() -> set[str]:
    return {name for name in settings.API_RATE_LIMITS if limit_for(name)}


def _caller(request: HttpRequest, body: object = None) -> str:
    auth = getattr(request, "auth", None)
    if auth:
        return f"c:{auth}"
    email = getattr(body, "email", None)
    if isinstance(email, str):
        return f"e:{email.strip().lower()}"
    return f"a:{request.META.get('REMOTE_ADDR', '')}"


def check(request: HttpRequest, operation: str, body: object = None) -> None:
    """Count this request; raise RateLimited when it is over the operation's limit."""
    rule = limit_for(operation)
    if rule is None:
        return
    limit, seconds = rule
    now = time.time()
    window = int(now // seconds)
    key = f"ratelimit:{operation}:{_caller(request, body)}:{seconds}:{window}"
    try:
        cache.add(key, 0, timeout=seconds + 1)
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr: count from one
        cache.set(key, 1, timeout=seconds + 1)
        count = 1
    except Exception:
        logger.warning("rate limit cache unavailable; %s not limited", operation)
        return
    if count > limit:
        retry_after = max(1, math.ceil((window + 1) * seconds - now))
        raise RateLimited(limit, seconds, retry_after)


def rate_limited(view: Callable[..., Any]) -> Callable[..., Any]:
    """The operation decorator (``api.add_decorator(rate_limited)``)."""
    operation = view.__name__

    @functools.wraps(view)
    def limited(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        check(request, operation, kwargs.get("body"))
        return view(request, *args, **kwargs)

    return limited
