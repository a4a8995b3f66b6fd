"""POST /orders is rate-limited per customer: fixed windows counted in the cache
(the local-memory cache here, the shared Redis in production), 429 + Retry-After."""

from __future__ import annotations

import pytest

from events.models import LogEntry
from tests.storefront import (  # noqa: F401
    assert_problem,
    catalog_fixture,
    other_shopper_fixture,
    shopper_fixture,
    storefront_fixture,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_per_minute(settings):
    from django.core.cache import cache

    cache.clear()
    settings.API_RATE_LIMITS = {"place_order": "2/60"}


def test_over_the_limit_a_customer_gets_429_with_retry_after(
    storefront, catalog, shopper, other_shopper, two_per_minute
):
    answers = [storefront.place(shopper, ("MUG", 1)).status_code for _ in range(3)]
    assert answers == [202, 202, 429]
    refused = storefront.place(shopper, ("MUG", 1))
    problem = assert_problem(refused, 429)
    assert problem["type"].endswith("rate-limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert LogEntry.objects.filter(type="orders.OrderPlaced").count() == 2
    # another customer has a window of their own
    assert storefront.place(other_shopper, ("MUG", 1)).status_code == 202
    # and reading is not limited
    assert storefront.get("/orders", shopper=shopper).status_code == 200


def test_off_means_no_limit(storefront, catalog, shopper, settings):
    settings.API_RATE_LIMITS = {"place_order": "off"}
    answers = {storefront.place(shopper, ("MUG", 1)).status_code for _ in range(3)}
    assert answers == {202}


def test_a_cache_outage_lets_orders_through(
    storefront, catalog, shopper, settings, two_per_minute
):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    answers = {storefront.place(shopper, ("MUG", 1)).status_code for _ in range(3)}
    assert answers == {202}


@pytest.mark.redis
def test_counters_live_in_redis_in_production(
    storefront, catalog, shopper, settings, two_per_minute
):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_URL,
            "KEY_PREFIX": f"test-{shopper.customer_id}",
        }
    }
    answers = [storefront.place(shopper, ("MUG", 1)).status_code for _ in range(3)]
    assert answers == [202, 202, 429]
    import redis

    keys = redis.Redis.from_url(settings.REDIS_URL).keys(
        f"test-{shopper.customer_id}:*ratelimit:place_order*"
    )
    assert len(keys) == 1


def test_token_requests_are_limited_per_account_not_per_address(
    storefront, shopper, other_shopper, settings
):
    from django.core.cache import cache

    # given two tries per minute per account (all callers share one address here, as
    # behind a proxy)
    cache.clear()
    settings.API_RATE_LIMITS = {"create_token": "2/60"}
    # when one account is guessed at three times
    answers = [
        storefront.login(shopper.email, "wrong").status_code,
        storefront.login(shopper.email.upper(), "wrong").status_code,
        storefront.login(shopper.email).status_code,
    ]
    # then the third is refused, even with the right password
    assert answers == [401, 401, 429]
    assert_problem(storefront.login(shopper.email), 429)
    # and another account, from the same address, is not
    assert storefront.login(other_shopper.email).status_code == 201
