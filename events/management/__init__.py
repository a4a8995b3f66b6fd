"""``manage.py events``: the operators' command line of the platform.

Owns: ``commands`` (the Django commands: ``events``, ``idempotency``) and ``verbs``
(one module per ``events`` verb: status, replay, rebuild, deadletters, sagas, pause,
resume, prune, repartition, trace, schemas).

On the top floor with the other entry points: it may import every wing, and no wing
imports it.
"""
