"""The unit of work: one durable transaction that buffers what is published in it and
writes it at its end.

Every platform-owned transaction is one (a command through the bus, a delivered batch,
an outside call's result, a redrive, a saga deadline, a staff action, a rebuild's
switch). ``unit_of_work()`` opens the transaction (durable: nesting one in another
fails loudly), collects the messages published inside, writes them to the log just
before commit (partition order, so the counters' locks are short and taken in a fixed
order) and, through ``events.log.signals``, wakes their readers after commit. An
exception inside rolls everything back, messages included.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction

from . import writer
from .pending import PendingMessage


class UnitOfWork:
    """The messages published during one unit of work, in publishing order."""

    _local = threading.local()

    def __init__(self) -> None:
        self.pending: list[PendingMessage] = []  # published, not written yet
        self.written: list[PendingMessage] = []  # written to the log by flush()

    @classmethod
    def current(cls) -> UnitOfWork | None:
        """The unit of work open in this thread, if any."""
        active: UnitOfWork | None = getattr(cls._local, "active", None)
        return active

    def add(self, items: list[PendingMessage]) -> None:
        self.pending.extend(items)

    def flush(self) -> list[PendingMessage]:
        """Write the buffered messages (inside the transaction, at its end)."""
        batch, self.pending = self.pending, []
        writer.write(batch)
        self.written.extend(batch)
        return batch


@contextmanager
def unit_of_work() -> Iterator[UnitOfWork]:
    """A durable transaction whose published messages are written at its end.

    Yields the unit; after the block its messages are written (``unit.written``) and
    the transaction commits."""
    unit = UnitOfWork()
    with transaction.atomic(durable=True):
        previous = UnitOfWork.current()
        UnitOfWork._local.active = unit
        try:
            yield unit
        finally:
            UnitOfWork._local.active = previous
        unit.flush()
