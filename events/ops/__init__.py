"""The operations wing: what operators read and run.

Owns: ``status`` (lag per subscription and partition) and ``lag`` (every checkpoint,
worst first, for the console), ``consumer_health`` (stalled subscriptions, queues with
no worker), ``metrics`` (Prometheus gauges read from the database at scrape time),
``exposition`` (what a scrape returns: counters and gauges), ``multiproc``
(prometheus-client's multiprocess directory), ``views`` (the metrics endpoint),
``retention`` (pruning), ``replay`` (moving checkpoints), ``repartition`` (raising the
partition count: the plan, its refusals, the drain of the old layout), and for the
staff console and ``events trace``: ``causation`` (the causation tree with each
consumer's receipts), ``tree`` (it as rows of a page), ``trace_formats`` (it as JSON
and Mermaid), ``links`` (where a key leads, as apps register it), ``saga_views`` (a
saga's steps, state and timeline), ``failure_groups`` (dead letters by way of
failing), ``redrive`` (redrive as staff ask for it) and ``console`` (all of it in one
place, ``events.console``).

May import: every wing below the dispatchers (``events.sagas``, ``events.store``,
``events.delivery``, ``events.commands``, ``events.log``) and the ground floor.
"""
