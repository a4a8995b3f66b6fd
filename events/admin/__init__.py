"""The platform's staff console, in the Django admin: the log and the causation trace of
anything in it (``log``), checkpoints by lag (``checkpoints``), dead letters by failure
with their redrive (``deadletters``), and sagas with their steps, state and timeline
(``sagas``), paused subscriptions (``pauses``). Staff change nothing by editing: every
action goes through the platform (redrive, discard, retry, resolve).

Owns: ``base`` (the read-only admin these pages build on) and the pages above.

On the top floor with the entry points (``events.apps``, ``events.tasks``,
``events.management``): it may import every wing, and no wing imports it.
"""

from . import checkpoints, deadletters, log, pauses, sagas
from .base import ReadOnlyAdmin

__all__ = ["ReadOnlyAdmin", "checkpoints", "deadletters", "log", "pauses", "sagas"]
