"""Rate limits through real HTTP: POST /orders per customer; POST /tokens per client
address and per (client address, account), never per account alone. Fixed windows
counted in the cache (the local-memory cache here, the shared Redis in production),
429 + Retry-After.

Clients are told apart for real: each ``Storefront(source=...)`` connects from its own
loopback address, so the server sees another REMOTE_ADDR; behind a proxy (the
``TRUSTED_PROXY_COUNT`` tests) the address comes from X-Forwarded-For.

The limiter's clock is pinned one second into a window (``window_just_begun``): with
the wall clock, requests that straddle a window's end are counted in two windows, and
a test expecting the third of three to be refused saw it accepted."""

from __future__ import annotations

from types import SimpleNamespace
from unittest import mock
from uuid import uuid4

import pytest

from events.models import LogEntry
from tests.support.storefront import (  # noqa: F401
    PASSWORD,
    Storefront,
    assert_problem,
    catalog_fixture,
    other_shopper_fixture,
    shopper_fixture,
    storefront_fixture,
)

pytestmark = pytest.mark.django_db(transaction=True)

#: a multiple of every window these tests use (60 s and 300 s)
LONGEST_WINDOW = 300


@pytest.fixture(autouse=True)
def window_just_begun(monkeypatch):
    """The limiter reads the time as one second after the start of the current
    window, for the whole test (the live server's thread shares this module)."""
    import time

    from shop.api import ratelimit

    instant = time.time() // LONGEST_WINDOW * LONGEST_WINDOW + 1
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: instant))


@pytest.fixture
def two_per_minute(settings):
    from django.core.cache import cache

    cache.clear()
    settings.API_RATE_LIMITS = {"place_order": {"caller": "2/60"}}


def test_over_the_limit_a_customer_gets_429_with_retry_after(
    storefront, catalog, shopper, other_shopper, two_per_minute
):
    answers = [storefront.place(shopper, ("MUG", 1)).status_code for _ in range(3)]
    assert answers == [202, 202, 429]
    refused = storefront.place(shopper, ("MUG", 1))
    problem = assert_problem(refused, 429)
    assert problem["type"].endswith("rate-limited")
    assert refused.headers["Retry-After"] == "59"
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


@pytest.mark.redis
def test_a_redis_counter_is_one_round_trip_and_always_expires_with_its_window(
    settings, two_per_minute
):
    # given the production cache: Django's Redis backend
    import redis

    from shop.api import ratelimit

    prefix = f"test-{uuid4()}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    server = redis.Redis.from_url(settings.REDIS_URL)
    sent = []
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        sent.append(command)
        return original(self, command, check_health)

    ratelimit._count("warm-up", 60)  # the connection's own handshake is not counted
    # when three requests are counted in a 60 s window
    with mock.patch.object(
        redis.connection.AbstractConnection, "send_packed_command", counting
    ):
        counts = [ratelimit._count("window-key", 60) for _ in range(3)]
    # then each took one round trip, counted exactly, and the counter expires
    assert counts == [1, 2, 3]
    assert len(sent) == 3
    (name,) = server.keys(f"{prefix}:*window-key")
    assert 0 < server.ttl(name) <= 61
    server.delete(name, *server.keys(f"{prefix}:*warm-up"))


@pytest.fixture
def clients(live_server):
    """Storefronts at their own client addresses: ``clients("127.0.0.2")``."""
    opened: list[Storefront] = []

    def at(address: str) -> Storefront:
        client = Storefront(live_server.url, source=address)
        opened.append(client)
        return client

    yield at
    for client in opened:
        client.close()


def token_limits(settings, *, client: str, client_account: str) -> None:
    settings.API_RATE_LIMITS = {
        "create_token": {"client": client, "client_account": client_account}
    }


def test_a_strangers_failures_do_not_lock_the_owner_out(
    storefront, shopper, clients, settings
):
    # given 2 tries per minute per client and account
    token_limits(settings, client="10/60", client_account="2/60")
    stranger, owner = clients("127.0.0.2"), clients("127.0.0.3")
    # when a stranger guesses the owner's password until refused
    guesses = [stranger.login(shopper.email, f"guess {n}") for n in range(4)]
    assert [answer.status_code for answer in guesses] == [401, 401, 429, 429]
    refused = assert_problem(guesses[-1], 429)
    assert "for this account from this client address" in refused["detail"]
    assert guesses[-1].headers["Retry-After"] == "59"
    # then the owner, from their own address, still gets a token
    assert owner.login(shopper.email).status_code == 201


def test_one_client_trying_many_accounts_is_stopped(
    storefront, shopper, clients, settings
):
    # given 3 token requests per minute per client
    token_limits(settings, client="3/60", client_account="5/60")
    stranger = clients("127.0.0.2")
    # when one client tries one password on many accounts
    answers = [
        stranger.login(f"victim{n}@example.com", "password1").status_code
        for n in range(5)
    ]
    # then it is stopped after three, whichever account it names next
    assert answers == [401, 401, 401, 429, 429]
    assert (
        "from this client address"
        in assert_problem(stranger.login(shopper.email), 429)["detail"]
    )
    # and another client is not
    assert clients("127.0.0.3").login(shopper.email).status_code == 201


def test_the_pair_limit_stops_guessing_one_account(
    storefront, shopper, other_shopper, clients, settings
):
    # given 2 tries per minute per client and account, 10 per client
    token_limits(settings, client="10/60", client_account="2/60")
    guesser = clients("127.0.0.2")
    # when one client guesses at one account
    answers = [guesser.login(shopper.email.upper(), "wrong").status_code]
    answers += [guesser.login(f"  {shopper.email}", "wrong").status_code]
    # then its third try is refused, even with the right password (the email is
    # counted as the account it names: case and spaces do not make a new one)
    answers += [guesser.login(shopper.email).status_code]
    assert answers == [401, 401, 429]
    # while the same client may still log in to another account
    assert guesser.login(other_shopper.email).status_code == 201


def test_behind_a_proxy_the_client_is_the_address_the_proxy_forwarded(
    storefront, shopper, settings
):
    # given one trusted proxy in front (every request arrives from its address)
    settings.TRUSTED_PROXY_COUNT = 1
    token_limits(settings, client="10/60", client_account="2/60")

    def through_proxy(client: str, forged: str = "") -> dict[str, str]:
        # the proxy appends the address it saw to whatever the client sent
        return {"X-Forwarded-For": f"{forged}, {client}" if forged else client}

    def login(headers: dict[str, str], password: str = "wrong") -> int:
        body = {"email": shopper.email, "password": password}
        return storefront.post("/tokens", json=body, headers=headers).status_code

    # when a stranger guesses, forging a new X-Forwarded-For entry each time
    answers = [
        login(through_proxy("198.51.100.7", forged=f"10.0.0.{n}")) for n in range(3)
    ]
    # then the forged entries do not give it fresh windows
    assert answers == [401, 401, 429]
    # and the owner behind the same proxy is not locked out
    assert login(through_proxy("203.0.113.9"), password=PASSWORD) == 201


def test_without_trusted_proxies_x_forwarded_for_is_ignored(
    storefront, shopper, settings
):
    # given no proxy in front (the default): the client is REMOTE_ADDR
    assert settings.TRUSTED_PROXY_COUNT == 0
    token_limits(settings, client="10/60", client_account="2/60")
    # when a client sends a new X-Forwarded-For with every guess
    answers = [
        storefront.post(
            "/tokens",
            json={"email": shopper.email, "password": "wrong"},
            headers={"X-Forwarded-For": f"198.51.100.{n}"},
        ).status_code
        for n in range(3)
    ]
    # then they all count against its one address
    assert answers == [401, 401, 429]
