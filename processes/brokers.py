"""Claims on Redis databases used as Celery brokers.

A run that flushes a Redis database first claims it: a key ``CLAIM_PREFIX<n>`` in
database 0 of the same server, holding the run's token, with an expiry (a crashed run
frees its database in time). Test runs claim any free database, the Black Friday bench
the one it is given; neither ever flushes a database the other holds.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import redis

CLAIM_PREFIX = "shop-tests:broker-db:"


def with_db(url: str, number: int) -> str:
    """``url`` pointing at Redis database ``number``."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{number}"))


def db_number(url: str) -> int:
    return int(urlsplit(url).path.strip("/") or 0)


class Claim:
    """The claim of one Redis database of the server ``url`` points at, held by
    ``owner`` (a name saying who holds it) for ``seconds`` at a time."""

    def __init__(self, url: str, number: int, *, owner: str, seconds: int) -> None:
        self.number = number
        self.key = f"{CLAIM_PREFIX}{number}"
        self.token = f"{owner}:{os.getpid()}:{uuid.uuid4().hex}"
        self.seconds = seconds
        self.claims = redis.Redis.from_url(with_db(url, 0), socket_timeout=5)

    def take(self) -> bool:
        """Take the claim, or extend it while it is ours; False if another holds it."""
        if self.claims.set(self.key, self.token, nx=True, ex=self.seconds):
            return True
        if self.held():
            self.claims.expire(self.key, self.seconds)
            return True
        return False

    def held(self) -> bool:
        return self.claims.get(self.key) == self.token.encode()

    def release(self) -> None:
        """Give the claim back (only while it is ours)."""
        if self.held():
            self.claims.delete(self.key)
        self.claims.close()
