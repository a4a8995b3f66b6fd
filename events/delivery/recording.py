"""Recording a delivery: the exactly-once record, in one unit of work.

Every way a message is delivered (a drained batch, a concurrent outside call, a
redrive) ends here: in one transaction, the inbox rows of the messages are claimed
(the ids not claimed before are the fresh ones), the effects of the fresh ones are
applied (handlers run in this transaction) or taken (an outside call's publications,
made before), their messages are written, and the checkpoint moves by compare-and-set.
A crash anywhere before commit leaves nothing; a message claimed before has no second
effect.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from django.db import connection

from ..log.pending import PendingMessage
from ..log.unit import unit_of_work
from ..messages import Envelope
from . import checkpoints, counting, inbox
from .handling import run_outside
from .subscriptions import Subscription

Effects = Callable[[list[Envelope]], list[PendingMessage]]


@dataclass(frozen=True)
class Move:
    """A checkpoint move: from ``expected`` (where the drain read it) to ``to``."""

    partition: int
    expected: int
    to: int


def no_effects(fresh: list[Envelope]) -> list[PendingMessage]:
    return []


def recorded(published: Mapping[UUID, Sequence[PendingMessage]]) -> Effects:
    """The effects of outside calls that already ran: what each fresh message's call
    published, by message id (a message not fresh has its publications in the log
    from its first record)."""
    return lambda fresh: [m for e in fresh for m in published.get(e.message_id, ())]


def require_no_transaction() -> None:
    """Outside handlers must never hold a transaction while they call out."""
    if connection.in_atomic_block:
        raise RuntimeError("outside handlers must run with no transaction open")


def outside_call(subscription: Subscription, envelope: Envelope) -> Effects:
    """Call the message's outside handler, with no transaction open, unless it was
    handled before (its inbox row: a redelivery calls nothing), and return what the
    call published as the effects to record."""
    require_no_transaction()
    if inbox.contains(subscription.name, envelope.message_id):
        return no_effects
    context = run_outside(subscription, envelope)
    return recorded({envelope.message_id: context.published})


def record_delivery(
    subscription: Subscription,
    envelopes: Sequence[Envelope],
    *,
    effects: Effects = no_effects,
    move: Move | None = None,
    guard: Callable[[], bool] | None = None,
) -> set[UUID] | None:
    """Claim ``envelopes`` for ``subscription``, apply ``effects`` to the fresh ones,
    write what they published and make the checkpoint ``move``, in one transaction.

    Returns the fresh message ids; None when ``guard`` (run first, in the transaction:
    a redrive's compare-and-set on its dead letter) said no, and nothing was done.
    Raises CheckpointMoved (rolled back) when the checkpoint is not where expected,
    and whatever the effects raise."""
    with unit_of_work() as unit:
        if guard is not None and not guard():
            return None
        handled = [e for e in envelopes if subscription.handler_for(e.type)]
        fresh = inbox.claim(subscription.name, handled)
        claimed = [e for e in handled if e.message_id in fresh]
        unit.add(effects(claimed))
        counting.handled_on_commit(subscription.name, claimed)
        working = subscription.shows_working(claimed)
        if move is not None and move.to > move.expected:
            checkpoints.advance(
                subscription.name,
                move.partition,
                expected=move.expected,
                to=move.to,
                handled=working,
            )
        elif working:  # no move: a window's message ahead of others, a redrive
            partition = move.partition if move is not None else claimed[0].partition
            checkpoints.handled(subscription.name, partition)
    return fresh
