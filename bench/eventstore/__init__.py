"""The event-store scenario (``python -m bench --only eventstore``, or
``python -m bench.eventstore``): ``run`` (ours), ``peer`` (the eventsourcing library on
the same server) and ``report``."""
