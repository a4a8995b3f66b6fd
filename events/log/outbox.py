"""Publishing: messages become log rows inside the caller's transaction.

``publish`` refuses to run outside a transaction, so a message can never exist without
the state change that caused it, nor the other way round: a rollback drops both.
Inside a unit of work (``events.log.unit``: every platform-owned transaction) messages
are buffered and written at its end, just before commit, so the partition counters are
locked only for the last moments of the transaction.
"""

from __future__ import annotations

from uuid import UUID

from django.db import transaction

from ..messages import Message
from . import writer
from .pending import PendingMessage, stamp
from .unit import UnitOfWork


class NotInTransaction(RuntimeError):
    """publish() was called with no transaction open."""


def publish(
    *messages: Message,
    correlation_id: UUID | None = None,
    causation_id: UUID | None = None,
    headers: dict[str, str] | None = None,
) -> list[PendingMessage]:
    """Add messages to the log in the current transaction.

    Raises NotInTransaction when no transaction is open. The returned items carry
    partition and offset once written (at once, or at the end of a unit of work).

    Outside a unit of work each call takes its partitions' counters at once, in
    ascending order within the call; two transactions that each make several calls to
    different partitions in opposite orders can deadlock (PostgreSQL aborts one).
    Publish everything in one call, or inside a unit of work, which writes at the end
    in partition order."""
    items = stamp(
        *messages,
        correlation_id=correlation_id,
        causation_id=causation_id,
        headers=headers,
    )
    add(items)
    return items


def add(items: list[PendingMessage]) -> None:
    """Buffer stamped messages in the current unit of work, or write them now inside
    the caller's transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise NotInTransaction(
            "publish() must run inside transaction.atomic(): a message is only ever "
            "written together with the state change that caused it"
        )
    unit = UnitOfWork.current()
    if unit is not None:
        unit.add(items)
    else:
        writer.write(items)
