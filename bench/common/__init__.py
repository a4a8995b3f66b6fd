"""What every bench stands on: ``cli`` (progress lines, a clean stop on signals, the
JSON file), ``db`` (the bench database: refused unless named for benchmarking,
created, migrated, reset), ``harness`` (loading the log, waiting for checkpoints),
``workers`` (Celery workers on the bench settings) and ``report`` (the load average,
where the figures go). Celery worker subprocesses themselves are
``processes.celery_worker``, shared with the tests."""
