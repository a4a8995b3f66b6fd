"""prometheus-client's multiprocess directory: emptied at a program's start, and a
child's exit noted (no Django here: gunicorn's hooks import it before the app loads).

``PROMETHEUS_MULTIPROC_DIR`` names one directory per program (a gunicorn, a Celery
worker): the program's root process empties it before it forks, so values of a run
before (whose pids may come back) never add to this one's. A program that emptied a
directory another one writes would drop that one's counts, hence one each.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from prometheus_client import multiprocess

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


def clear_multiproc_dir() -> None:
    """Empty the program's multiprocess directory (creating it), at its start."""
    path = os.environ.get(MULTIPROC_DIR)
    if not path:
        return
    directory = Path(path)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)


def process_exited(pid: int) -> None:
    """A child of the program exited: its live gauges go (its counters stay)."""
    if os.environ.get(MULTIPROC_DIR):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]  # prometheus-client leaves its multiprocess helpers unannotated
