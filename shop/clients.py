"""Who sent a request: the client address that rate limits and login lockouts count by.

Behind reverse proxies, ``REMOTE_ADDR`` is the nearest proxy, the same for every
client, so counting by it would let one stranger's failures lock everybody out. Every
proxy appends the address it received the request from to ``X-Forwarded-For``; a
client can put anything it likes in front of that. So the only entries to believe are
the ones our own proxies appended, counted from the right: with
``TRUSTED_PROXY_COUNT = n`` (the number of proxies in front of gunicorn, each
appending one entry, as nginx's ``$proxy_add_x_forwarded_for`` and cloud load
balancers do) the client is the n-th entry from the right. Anything to its left was
written by the client and is ignored.

- ``TRUSTED_PROXY_COUNT = 0`` (the default: gunicorn faces the clients, or the
  embedded run): ``REMOTE_ADDR``, and ``X-Forwarded-For`` is ignored entirely.
- A request with fewer entries than ``TRUSTED_PROXY_COUNT`` did not come through the
  proxies as configured (someone reached the server directly): ``REMOTE_ADDR``,
  which cannot be forged.
- No usable address at all (gunicorn on a unix socket sets no ``REMOTE_ADDR``): None,
  and every such request shares one count; behind a proxy on a unix socket, set
  ``TRUSTED_PROXY_COUNT``.

IPv6 clients are counted by their /64 network (its first address stands for it, so
the value is still an IP address, as django-axes stores it): one subscriber usually
holds a whole /64, so counting single addresses would give an attacker 2**64 fresh
identities. An entry with a port (``203.0.113.7:5123``, ``[2001:db8::1]:443``, as
some load balancers write) counts by its address.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest

IPV6_PREFIX = 64


def client_address(request: HttpRequest) -> str | None:
    """The address of the client as far as our own proxies vouch for it (see the module
    docstring); an IPv6 address as the first address of its /64 (``2001:db8:1:2::``).
    None when the request tells no usable address (no ``REMOTE_ADDR``, as with a unix
    socket and no trusted proxy): django-axes stores that as no address, where a made-up
    word would not fit its IP address column."""
    remote = request.META.get("REMOTE_ADDR") or ""
    proxies = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0))
    chosen = remote
    if proxies > 0:
        forwarded = [
            entry.strip()
            for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if entry.strip()
        ]
        if len(forwarded) >= proxies:
            chosen = forwarded[-proxies]
    return _normalised(chosen) or _normalised(remote) or None


def _normalised(address: str) -> str:
    """A valid IP address in its canonical form (an IPv6 one as the first address of
    its /64, an IPv4-mapped IPv6 one as the IPv4 address); "" for anything else."""
    if address.startswith("["):  # [v6] or [v6]:port
        address = address[1:].partition("]")[0]
    elif address.count(":") == 1:  # v4:port
        address = address.partition(":")[0]
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return ""
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        network = ipaddress.IPv6Network((parsed, IPV6_PREFIX), strict=False)
        return str(network.network_address)
    return str(parsed)
