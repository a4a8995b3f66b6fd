"""The commands wing: the one registry of command handlers, the bus that executes a
command in its own unit of work, and idempotency keys for requests that do.

Owns: ``registry`` (who handles each command type: exactly one handler per type in the
process, whether it runs through the bus or is delivered to a subscription), ``bus``
(``execute``: one unit of work, retried on ConcurrencyConflict; ``run``: inside the
current one), ``idempotency`` (a key's first answer replayed to its retries) and
``once`` (a command executed once per idempotency key, its answer stored with it).

May import: ``events.log`` and the ground floor. Nothing above it.
"""
