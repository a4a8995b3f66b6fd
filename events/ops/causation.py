"""The causation tree: everything one request (or one aggregate, or one message) caused,
and, for each message, what became of it in every subscription that reads it.

Given a correlation id, a message id, or a message key (an aggregate's id, such as an
order's), :func:`trace` finds the business transactions involved (their correlation
ids), reads every message they wrote (the log, and the copies dead letters keep of
messages since pruned), and arranges them by causation: a message's children are the
messages published while it was handled. Saga transitions are messages like any other,
so they appear inline, under the reply that moved the saga.

A receipt says, per subscription that handles the message's type:

* ``handled``: its inbox row (when, and how long after the message was written);
* ``parked``: a dead letter (with its id, attempts and error), or ``redriven`` /
  ``discarded`` once staff dealt with it;
* ``retrying``: the message holds its partition, failing (attempts, next try, error);
* ``pending``: the subscription's checkpoint is not past it yet;
* ``passed``: the checkpoint is past it but no inbox row remains (pruned by retention,
  or handled before the subscription kept an inbox);
* ``transition``: for a saga's own transition (``events.sagas.transitions``), the saga
  (as ``subscription``) and what changed, in words (``note``). The saga wrote it in the
  transaction of the message that moved it, so it took effect when it was written; it
  has no subscriber of its own to wait for (an alert may read one too, with its own
  receipt).

This is the one function behind ``manage.py events trace`` and the staff console's
investigator. It reads only; it knows nothing of shops.

Every read goes through an index, whatever the size of the log: the key and the
message id to find the correlation ids, ``correlation_id`` for the messages and their
dead letters, and (subscription, message id), the inbox's unique index, for the
receipts (``events/tests/test_causation.py`` checks the plans on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from uuid import UUID

from django.db.models import Q

from ..delivery.subscriptions import Subscription, registry
from ..log.reader import ENVELOPE_FIELDS
from ..messages import Envelope
from ..models import Checkpoint, DeadLetter, InboxEntry, LogEntry
from ..sagas.transitions import describe

State = Literal[
    "handled",
    "parked",
    "redriven",
    "discarded",
    "retrying",
    "pending",
    "passed",
    "transition",
]
MAX_MESSAGES = 5000  # a trace larger than this is cut (and says so)


class UnknownTraceTarget(LookupError):
    """No message, correlation or key matches what was asked for."""


@dataclass(frozen=True)
class Receipt:
    """What one subscription did with one message."""

    subscription: str
    state: State
    at: datetime | None = None  # handled, parked, or the next retry
    seconds_after: float | None = None  # from the message being written to ``at``
    attempts: int = 0
    error: str = ""
    dead_letter_id: int | None = None
    note: str = ""  # a transition: what changed in the saga, in words


@dataclass
class Node:
    """A message of the trace, its receipts, and the messages it caused."""

    envelope: Envelope
    receipts: list[Receipt] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)
    pruned: bool = False  # known only from a dead letter's copy

    def walk(self) -> Iterable[tuple[int, Node]]:
        """This node and its descendants, depth first, with their depth."""
        stack: list[tuple[int, Node]] = [(0, self)]
        while stack:
            depth, node = stack.pop()
            yield depth, node
            stack.extend((depth + 1, c) for c in reversed(node.children))


@dataclass
class Trace:
    asked: str
    correlation_ids: list[UUID]
    roots: list[Node]
    truncated: bool = False

    def nodes(self) -> Iterable[tuple[int, Node]]:
        for root in self.roots:
            yield from root.walk()

    @property
    def size(self) -> int:
        return sum(1 for _ in self.nodes())


def trace(asked: str) -> Trace:
    """The causation tree of an order id (any message key), a correlation id or a
    message id. Raises UnknownTraceTarget when nothing matches."""
    text = asked.strip()
    correlations = _correlations_of(text)
    if not correlations:
        raise UnknownTraceTarget(
            f"no message has the id, correlation id or key {text!r}"
        )
    letters = list(DeadLetter.objects.filter(correlation_id__in=correlations))
    envelopes, pruned, truncated = _messages(correlations, letters)
    nodes = {e.message_id: Node(e, pruned=e.message_id in pruned) for e in envelopes}
    _attach_receipts(nodes, letters)
    roots: list[Node] = []
    for node in nodes.values():  # envelopes are in write order: parents come first
        cause = node.envelope.causation_id
        parent = nodes.get(cause) if cause is not None else None
        (parent.children if parent is not None else roots).append(node)
    return Trace(text, sorted(correlations, key=str), roots, truncated)


def _correlations_of(text: str) -> set[UUID]:
    try:
        as_id: UUID | None = UUID(text)
    except ValueError:
        as_id = None
    if as_id is not None:
        if LogEntry.objects.filter(correlation_id=as_id).exists():
            return {as_id}
        for model in (LogEntry, DeadLetter):
            found = model.objects.filter(message_id=as_id).values_list(
                "correlation_id", flat=True
            )
            if found:
                return set(found)
        if DeadLetter.objects.filter(correlation_id=as_id).exists():
            return {as_id}
    by_key = set(
        LogEntry.objects.filter(key=text)
        .values_list("correlation_id", flat=True)
        .distinct()
    )
    by_key |= set(
        DeadLetter.objects.filter(key=text).values_list("correlation_id", flat=True)
    )
    return by_key


def _messages(
    correlations: set[UUID], letters: list[DeadLetter]
) -> tuple[list[Envelope], set[UUID], bool]:
    """Every message of these correlations in write order (partition-independent:
    by the time each was recorded, then its offset), the ids known only from their
    dead letters (``letters``: those of the same correlations), and whether the trace
    was cut at MAX_MESSAGES."""
    rows = list(
        LogEntry.objects.filter(correlation_id__in=correlations)
        .order_by("recorded_at", "partition", "offset")
        .values_list(*ENVELOPE_FIELDS)[: MAX_MESSAGES + 1]
    )
    truncated = len(rows) > MAX_MESSAGES
    envelopes = [Envelope(*row) for row in rows[:MAX_MESSAGES]]
    seen = {e.message_id for e in envelopes}
    pruned: set[UUID] = set()
    for letter in letters:
        if letter.message_id not in seen:
            seen.add(letter.message_id)
            pruned.add(letter.message_id)
            envelopes.append(letter.envelope())
    envelopes.sort(key=lambda e: (e.recorded_at, e.partition, e.offset))
    return envelopes, pruned, truncated


def _readers(envelope: Envelope) -> list[Subscription]:
    return [
        s
        for s in registry.reading(envelope.topic)
        if s.handler_for(envelope.type) is not None
    ]


def _attach_receipts(nodes: dict[UUID, Node], letters: list[DeadLetter]) -> None:
    readers = {
        message_id: sorted(_readers(node.envelope), key=lambda s: s.name)
        for message_id, node in nodes.items()
    }
    reading: dict[str, list[UUID]] = {}
    for message_id, subscriptions in readers.items():
        for subscription in subscriptions:
            reading.setdefault(subscription.name, []).append(message_id)
    inbox = _handled(reading)
    parked = {(letter.subscription, letter.message_id): letter for letter in letters}
    checkpoints = {
        (c.subscription, c.partition): c
        for c in Checkpoint.objects.filter(subscription__in=reading)
    }
    for message_id, node in nodes.items():
        envelope = node.envelope
        transition = describe(envelope.type, envelope.payload)
        if transition is not None:
            saga, change = transition
            node.receipts.append(
                Receipt(
                    saga,
                    "transition",
                    at=envelope.recorded_at,
                    seconds_after=0.0,
                    note=change,
                )
            )
        for subscription in readers[message_id]:
            key = (subscription.name, message_id)
            node.receipts.append(
                _receipt(
                    subscription,
                    envelope,
                    inbox.get(key),
                    parked.get(key),
                    checkpoints.get((subscription.name, envelope.partition)),
                )
            )


def _handled(reading: dict[str, list[UUID]]) -> dict[tuple[str, UUID], datetime]:
    """When each subscription handled each of the messages it reads, by the inbox's
    unique (subscription, message id) index: the inbox holds a row per message and
    subscription, and a message id alone would read all of it."""
    if not reading:
        return {}
    pairs = Q()
    for name, message_ids in reading.items():
        pairs |= Q(subscription=name, message_id__in=message_ids)
    rows = InboxEntry.objects.filter(pairs).values_list(
        "subscription", "message_id", "handled_at"
    )
    return {(name, message_id): at for name, message_id, at in rows}


def _receipt(
    subscription: Subscription,
    envelope: Envelope,
    handled_at: datetime | None,
    letter: DeadLetter | None,
    checkpoint: Checkpoint | None,
) -> Receipt:
    name = subscription.name
    if letter is not None and letter.status == DeadLetter.Status.PARKED:
        return Receipt(
            name,
            "parked",
            at=letter.parked_at,
            seconds_after=_after(envelope, letter.parked_at),
            attempts=letter.attempts,
            error=letter.error,
            dead_letter_id=letter.id,
        )
    if handled_at is not None:
        return Receipt(
            name,
            "handled",
            at=handled_at,
            seconds_after=_after(envelope, handled_at),
            dead_letter_id=letter.id if letter else None,
        )
    if letter is not None:  # redriven (its inbox row pruned since) or discarded
        state: State = (
            "redriven" if letter.status == DeadLetter.Status.REDRIVEN else "discarded"
        )
        return Receipt(
            name,
            state,
            at=letter.resolved_at,
            attempts=letter.attempts,
            error=letter.error,
            dead_letter_id=letter.id,
        )
    if checkpoint is not None and checkpoint.failing_offset == envelope.offset:
        return Receipt(
            name,
            "retrying",
            at=checkpoint.retry_at,
            attempts=checkpoint.attempts,
            error=checkpoint.last_error,
        )
    if checkpoint is None or checkpoint.position < envelope.offset:
        return Receipt(name, "pending")
    return Receipt(name, "passed")


def _after(envelope: Envelope, when: datetime) -> float:
    return (when - envelope.recorded_at).total_seconds()
