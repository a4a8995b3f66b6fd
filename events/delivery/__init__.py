"""The delivery wing: subscriptions and everything that brings them their messages.

Owns: ``subscriptions`` (consumer groups, handlers, contexts), ``drain`` (the loop of
one partition), ``window`` (concurrent outside calls of one partition), ``doorbell``
(knocks on a window in progress when its partition is woken), ``recording`` (the
exactly-once record of a delivery), ``handling`` (calling handlers), ``inbox``,
``checkpoints``, ``failures`` and ``retries`` (backoff, then dead letters),
``deadletters`` (parking and redrive), ``outages`` (a subscription failing the same
way on several keys pauses and probes), ``notices`` (``MessageParked``, announced with
each dead letter), ``counting`` (the delivery counters, counted on commit), ``locks``
(one drain per partition) and ``waiting`` (read your writes).

May import: ``events.commands`` (a subscription delivers in-process commands to their
one handler), ``events.log`` and the ground floor. Nothing above it.
"""
