"""gunicorn's hooks for the metrics (gunicorn reads ./gunicorn.conf.py on its own).

With PROMETHEUS_MULTIPROC_DIR set (docs/observability.md, "Metrics"), the master
empties the web program's directory before it forks its workers, and marks each
worker that exits as dead (its live gauges go; its counters stay in the sum).
"""

from typing import Any

from events.ops.multiproc import clear_multiproc_dir, process_exited


def on_starting(server: Any) -> None:
    clear_multiproc_dir()


def child_exit(server: Any, worker: Any) -> None:
    process_exited(worker.pid)
