"""The store wing: event-sourced streams on the log, aggregates, projections and their
rebuild.

Owns: ``streams`` (append with an expected version, read, time travel), ``aggregate``
(the pure base of aggregates: record, fold, evolve; no Django), ``repository`` (load
and save aggregates, snapshots), ``projections`` (read models fed by a subscription)
and ``rebuild`` (a projection rebuilt side by side and switched atomically).

May import: ``events.delivery`` (a projection is a subscription; a rebuild takes its
drain locks), ``events.commands``, ``events.log`` and the ground floor.
``aggregate`` imports only ``events.messages`` and pydantic, so a domain may build on
it and stay free of Django.
"""
