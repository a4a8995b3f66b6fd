"""The event platform, as the apps see it: messages, publishing, commands,
subscriptions, the event store, projections and sagas. It knows nothing about shops;
apps register with it from their ``AppConfig.ready()``.

This module is the platform's public face: apps import from ``events`` and nothing
deeper (import-linter checks it). Names are imported on first use (PEP 562), so that
importing a contract or a domain module pulls in only what it uses: ``from events
import Event, message`` loads the message bases and no Django at all. The wings behind
it, and the floors they stand on, are in ``docs/architecture.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .commands import bus, idempotency, once
    from .commands.registry import command_handler
    from .delivery.subscriptions import Context, Delivery, Subscription
    from .delivery.waiting import WaitTimeout, wait_for_messages, wait_for_position
    from .dispatch.current import start_embedded_dispatcher
    from .errors import ConcurrencyConflict, DomainError
    from .log.context import correlation_scope, current_correlation_id
    from .log.journeys import journey
    from .log.outbox import publish
    from .messages import Command, Envelope, Event, Message, message, message_type
    from .ops import console
    from .ops.causation import UnknownTraceTarget, trace
    from .ops.views import metrics_view
    from .sagas.declaration import Saga, Step
    from .sagas.registry import saga
    from .sagas.transitions import SagaStepFailed
    from .store import repository, streams
    from .store.aggregate import Aggregate
    from .store.projections import Projection, projection

# name -> the module that defines it (a module's own name: the module itself)
_EXPORTS = {
    "Message": "events.messages",
    "Envelope": "events.messages",
    "Event": "events.messages",
    "Command": "events.messages",
    "message": "events.messages",
    "message_type": "events.messages",
    "DomainError": "events.errors",
    "ConcurrencyConflict": "events.errors",
    "publish": "events.log.outbox",
    "correlation_scope": "events.log.context",
    "current_correlation_id": "events.log.context",
    "journey": "events.log.journeys",
    "bus": "events.commands.bus",
    "command_handler": "events.commands.registry",
    "idempotency": "events.commands.idempotency",
    "once": "events.commands.once",
    "Subscription": "events.delivery.subscriptions",
    "Context": "events.delivery.subscriptions",
    "Delivery": "events.delivery.subscriptions",
    "wait_for_messages": "events.delivery.waiting",
    "wait_for_position": "events.delivery.waiting",
    "WaitTimeout": "events.delivery.waiting",
    "Aggregate": "events.store.aggregate",
    "repository": "events.store.repository",
    "streams": "events.store.streams",
    "Projection": "events.store.projections",
    "projection": "events.store.projections",
    "Saga": "events.sagas.declaration",
    "Step": "events.sagas.declaration",
    "saga": "events.sagas.registry",
    "SagaStepFailed": "events.sagas.transitions",
    "metrics_view": "events.ops.views",
    "trace": "events.ops.causation",
    "UnknownTraceTarget": "events.ops.causation",
    "console": "events.ops.console",
    "start_embedded_dispatcher": "events.dispatch.current",
}

__all__ = [
    "Aggregate",
    "Command",
    "ConcurrencyConflict",
    "Context",
    "Delivery",
    "DomainError",
    "Envelope",
    "Event",
    "Message",
    "Projection",
    "Saga",
    "SagaStepFailed",
    "Step",
    "Subscription",
    "UnknownTraceTarget",
    "WaitTimeout",
    "bus",
    "command_handler",
    "console",
    "correlation_scope",
    "current_correlation_id",
    "idempotency",
    "journey",
    "message",
    "message_type",
    "metrics_view",
    "once",
    "projection",
    "publish",
    "repository",
    "saga",
    "start_embedded_dispatcher",
    "streams",
    "trace",
    "wait_for_messages",
    "wait_for_position",
]


def __getattr__(name: str) -> Any:
    try:
        path = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'events' has no attribute {name!r}") from None
    module = importlib.import_module(path)
    value = module if path.rsplit(".", 1)[-1] == name else getattr(module, name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return __all__
