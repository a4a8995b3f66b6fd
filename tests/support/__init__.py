"""Helpers of the cross-app tests and of every app's tests: real Celery workers
(``workers``), real servers (``servers``, ``storefront``), a PostgreSQL cluster of a
test's own (``pgcluster``) and the operator console's fixtures (``console``)."""
