"""The client address behind proxies (shop.clients): only the X-Forwarded-For entries
our own proxies appended are believed, IPv6 counts by /64, and anything unusable falls
back to REMOTE_ADDR."""

from __future__ import annotations

from typing import Any

from django.test import RequestFactory

import pytest

from shop.clients import client_address


def address(
    settings, proxies: int, remote: str, forwarded: str | None = None
) -> str | None:
    settings.TRUSTED_PROXY_COUNT = proxies
    headers: dict[str, Any] = (
        {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    )
    return client_address(RequestFactory().get("/", REMOTE_ADDR=remote, **headers))


def test_without_proxies_remote_addr_is_the_client_whatever_it_forwards(settings):
    assert address(settings, 0, "192.0.2.1", "198.51.100.7") == "192.0.2.1"


@pytest.mark.parametrize(
    "proxies, forwarded, client",
    [
        (1, "198.51.100.7", "198.51.100.7"),
        # entries left of the ones our proxies appended are the client's own words
        (1, "10.9.9.9, 198.51.100.7", "198.51.100.7"),
        (2, "10.9.9.9, 198.51.100.7, 192.0.2.50", "198.51.100.7"),
        # ports, as some load balancers write them
        (1, "198.51.100.7:5123", "198.51.100.7"),
        (1, "[2001:db8:1:2::5]:443", "2001:db8:1:2::"),
    ],
)
def test_behind_proxies_the_client_is_the_entry_they_vouch_for(
    settings, proxies, forwarded, client
):
    assert address(settings, proxies, "192.0.2.1", forwarded) == client


def test_fewer_entries_than_proxies_means_the_request_bypassed_them(settings):
    # a request that reached the server directly: its own header proves nothing
    assert address(settings, 2, "192.0.2.1", "198.51.100.7") == "192.0.2.1"
    assert address(settings, 1, "192.0.2.1") == "192.0.2.1"


def test_an_entry_that_is_no_address_falls_back_to_remote_addr(settings):
    assert address(settings, 1, "192.0.2.1", "unknown") == "192.0.2.1"


def test_ipv6_clients_count_by_their_64_network(settings):
    first = address(settings, 0, "2001:db8:1:2:aaaa::1")
    second = address(settings, 0, "2001:db8:1:2:bbbb::2")
    assert first == second == "2001:db8:1:2::"
    assert address(settings, 0, "2001:db8:1:3::1") == "2001:db8:1:3::"


def test_ipv4_mapped_ipv6_is_the_ipv4_address(settings):
    assert address(settings, 0, "::ffff:192.0.2.1") == "192.0.2.1"


def test_a_request_without_an_address_has_none(settings):
    # (gunicorn on a unix socket; Django's test client's force_login)
    assert address(settings, 0, "") is None
    assert address(settings, 1, "", "not an address") is None
    assert address(settings, 1, "", "198.51.100.7") == "198.51.100.7"
