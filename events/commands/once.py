"""A command executed once per idempotency key: its first answer is replayed.

The one place where a request's Idempotency-Key meets the command it guards. The key
is claimed in the command's own unit of work (``idempotency.claim``, first thing in
the transaction) and completed with the answer just before it commits, so the key
and the work take one commit. The caller says how to answer from the handler's result
(``answer``: pure; it runs inside the transaction, where its response is stored with
the work, and that same response is returned). A request whose work fails is settled
by whoever renders its error (``idempotency.detach(holder)``): a client error is
stored, a server error leaves the key free. Nothing here knows HTTP: responses are
status, headers and body text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..log.pending import PendingMessage
from ..messages import Command
from . import bus, idempotency
from .idempotency import Claim, StoredResponse

R = TypeVar("R")


@dataclass(frozen=True)
class Key:
    """A client's idempotency key, its scope (e.g. the customer) and the fingerprint of
    the request that carries it."""

    scope: str
    key: str
    fingerprint: str


@dataclass(frozen=True)
class Answer:
    response: StoredResponse
    replayed: bool  # a stored answer of an earlier request with the same key


class _Replay(Exception):  # noqa: N818 (control flow, not an error)
    """The key's answer is stored: leave the (empty) transaction and replay it."""

    def __init__(self, response: StoredResponse) -> None:
        super().__init__("replay")
        self.response = response


@dataclass
class _Attempt(Generic[R]):
    """One execution of ``command`` under ``key``: claims the key when the command's
    unit of work begins (anew when that transaction is retried) and stores the
    answer with the work just before it commits."""

    command: Command
    key: Key
    expected: type[R]
    answer: Callable[[R], StoredResponse]
    holder: object
    claimed: Claim | None = None
    response: StoredResponse | None = None

    def claim(self) -> None:
        idempotency.detach(self.holder)  # a retried transaction claims anew
        found = idempotency.claim(
            scope=self.key.scope, key=self.key.key, fingerprint=self.key.fingerprint
        )
        if isinstance(found, StoredResponse):
            raise _Replay(found)
        idempotency.attach(self.holder, found)  # an error answer settles it
        self.claimed = found

    def store(self, result: object, _published: list[PendingMessage]) -> None:
        # commits with the work, or not at all
        assert self.claimed is not None, "the unit of work began without a claim"
        self.response = self.answer(bus.checked(self.command, result, self.expected))
        self.claimed.complete(self.response)


def execute_once(
    command: Command,
    *,
    key: Key | None,
    expected: type[R],
    answer: Callable[[R], StoredResponse],
    holder: object,
) -> Answer:
    """Execute ``command`` (``bus.execute``; its handler returns an ``expected``)
    unless ``key`` was used before: then replay its stored answer. Raises the
    idempotency errors (InvalidKey, KeyInUse, KeyReused) and whatever the command
    raises, with the claim attached to ``holder``."""
    if key is None:
        return Answer(answer(bus.outcome(command, expected)), replayed=False)
    idempotency.check_key(key.key)  # before any transaction: a 400 costs nothing
    attempt = _Attempt(command, key, expected, answer, holder)
    try:
        bus.execute(command, on_begin=attempt.claim, before_commit=attempt.store)
    except _Replay as replay:
        return Answer(replay.response, replayed=True)
    idempotency.detach(holder)
    assert attempt.response is not None, "the command committed without an answer"
    return Answer(attempt.response, replayed=False)
