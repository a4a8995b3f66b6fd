"""Event schemas as a contract: the committed registry, the compatibility gate, the
stored-history check and the catalog (AsyncAPI, the generated README, the admin page).

What this package owns (its command is ``events.management.verbs.schemas``, ``manage.py
events schemas``):

- ``model``: the contract as plain data (message types, subscriptions, sagas), the
  one shape both sides of the gate are compared in.
- ``sources``: the contract as the code declares it today, read from the platform's
  registries (message types, subscriptions, the in-process command handlers, sagas,
  projections). It is the only module here that reads them, so a move of those
  modules touches one import block.
- ``registry``: the committed registry under ``docs/events/`` (``index.json`` and a
  JSON Schema per message type and version), merged with the code on export.
- ``jsondiff``, ``examples``, ``compatibility``: the gate (``events schemas check``):
  what changed between the committed registry and the code, and which of it breaks
  readers of stored messages.
- ``stored``: ``events schemas check --stored``: every (type, version) in the log, the
  dead letters and the snapshots of a database, read through today's code.
- ``asyncapi``, ``diagrams``, ``readme``, ``documents``: the generated documents.
- ``figures``, ``catalog``, ``views``, ``urls``: the admin's Event catalog page.

It may import Django, pydantic, PyYAML and the rest of ``events``: ``sources`` the
registries, ``stored`` and ``figures`` the platform's tables (``events.models``),
``compatibility`` and ``stored`` the reading path (``events.messages``: ``upcast``,
``decode``). Like all of ``events`` it imports no app: it learns about apps only from
what they registered.
"""
