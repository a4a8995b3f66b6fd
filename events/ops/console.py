"""What a staff console of an app needs from the platform, in one place (exported as
``events.console``): the causation tree of a key, its sagas with their timelines,
its dead letters' redrive (told first when a saga has ended), the staff actions on a
saga, and links from keys to the app's pages.

Apps reach the platform only through ``events``; this module gathers the read side
and the staff actions an app's admin uses (orders' investigator), so that neither
the app nor the platform's pages reach into the wings for them.
"""

from __future__ import annotations

from ..sagas.staff import SagaActionError
from ..sagas.staff import resolve as resolve_saga
from ..sagas.staff import retry as retry_saga
from .causation import Node, Receipt, Trace, UnknownTraceTarget, trace
from .links import KeyLink, key_link, register_key_link
from .redrive import Redrive, redrive, redrive_group, warnings
from .saga_views import Moment, SagaView, StepView, saga_views, step_name
from .tree import TreeRow, tree_rows

__all__ = [
    "KeyLink",
    "Moment",
    "Node",
    "Receipt",
    "Redrive",
    "SagaActionError",
    "SagaView",
    "StepView",
    "Trace",
    "TreeRow",
    "UnknownTraceTarget",
    "key_link",
    "redrive",
    "redrive_group",
    "register_key_link",
    "resolve_saga",
    "retry_saga",
    "saga_views",
    "step_name",
    "trace",
    "tree_rows",
    "warnings",
]
