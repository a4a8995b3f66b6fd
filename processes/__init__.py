"""Real processes for the test suite and the benchmarks: Celery worker subprocesses,
process groups, claimed Redis databases, servers of one's own (a Redis server, a
PostgreSQL cluster: ``servers``) and waiting for a condition.

Both ``tests`` and ``bench`` start real workers and servers; this package is what they
share, so the bench never imports test-only code (fixtures, pytest) and the tests
never import a benchmark. It imports neither: only Django's settings, Redis and the
standard library, and no app of the shop.
"""

from pathlib import Path

# The repository root (manage.py, the ``shop`` package): every subprocess's cwd.
BASE_DIR = Path(__file__).resolve().parent.parent
