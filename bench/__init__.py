"""The benchmark runner (``make bench``, ``python -m bench``).

Measures, on PostgreSQL and in one run, what the event platform delivers next to what
the same database does for plain INSERTs: baselines, delivery throughput with the
in-process and the Celery dispatcher, and commit-to-handler latency with Celery. See
``bench.__main__`` for the scenarios and flags.
"""
