"""The delivery scenarios of ``python -m bench``: ``baselines`` (INSERTs without the
platform), ``throughput`` (in-process and Celery dispatchers), ``latency``
(commit-to-handler with Celery) and ``report`` (the table of all of them)."""
