"""The dispatch wing, the top floor: who runs drains, and when.

Owns: ``current`` (the process's dispatcher, chosen by ``EVENTS_DISPATCHER``, and the
receiver that wakes it after a commit), ``inprocess`` (threads in the serving
process), ``celery`` (drain tasks on workers, with the wake-up flags in Redis),
``listener`` (PostgreSQL LISTEN on the topics' channels), ``worker`` (a Celery
worker's own lanes, woken by those notifications: ``EVENTS_WAKE = "notify"``) and
``worker_metrics`` (a worker program's metrics server).

May import every other wing and the ground floor; nothing imports it but the entry
points (``events.apps``, ``events.tasks``, the WSGI entry).
"""
