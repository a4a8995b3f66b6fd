"""The log wing: partitions, the correlation context, and writing and reading the log
(the outbox) inside the caller's transaction.

Owns: ``partitions`` (a key's partition), ``layout`` (the partition count in the
database, the writers' lock, raising the count with per-key order kept), ``context``
(correlation and causation of what is published now), ``pending`` (a message on its
way in), ``writer`` and ``reader`` (log rows, gap-free offsets in commit order),
``outbox`` (``publish``), ``journeys`` (how long a key takes from one message type
to another, declared by an app, observed as the writer writes), ``unit`` (the unit
of work: one durable transaction that buffers what is published and writes it at
its end) and ``signals`` (after commit, who wrote what).

May import: the ground floor (``events.messages``, ``events.models``, ``events.errors``)
and Django. Nothing above it: it never learns who reads the log; the dispatchers
connect to ``signals.messages_committed`` from ``EventsConfig.ready()``.
"""
