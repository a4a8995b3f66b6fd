"""The contract as the code declares it today, read from the platform's registries.

The only module of ``events.schemas`` that reads them: message types
(``events.messages.registered_types``), subscriptions (``events.delivery``), the in-
process command handlers (``events.commands.registry``), sagas, projections and
aggregate classes (for the snapshots ``check --stored`` reads). What it reads is what
the installed apps registered from their ``ready()``; types and subscriptions declared
in test modules (a ``tests`` package) or outside an installed app are never part of the
contract, so the registry built inside a test run is the one ``manage.py`` builds.

An app is the top-level package of the module that declares a thing: ``orders`` for
``orders.contracts.OrderPlaced``, ``events`` for the platform's own ``sagas.*``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.apps import apps

from ..commands.registry import registry as commands
from ..delivery.subscriptions import Subscription, registry
from ..messages import Event, Message, registered_types
from ..sagas.declaration import Saga
from ..sagas.registry import all_sagas
from ..store.aggregate import Aggregate
from ..store.projections import Projection, all_projections
from .model import Contract, MessageSpec, Role, SagaSpec, StepSpec, SubscriptionSpec

_UPCASTER = re.compile(r"^from_v(\d+)$")


def current() -> Contract:
    """The contract of everything the installed apps declared."""
    return build(
        types=registered_types().values(),
        subscriptions=registry.all(),
        sagas=all_sagas(),
        projections=all_projections(),
        bus_handlers={r.command_type: r.fn for r in commands.all() if r.fn},
    )


def in_contract(module: str) -> bool:
    """Whether a thing declared in ``module`` belongs to the contract: declared by an
    installed app, outside its tests."""
    if "tests" in module.split("."):
        return False
    return any(
        module == config.name or module.startswith(config.name + ".")
        for config in apps.get_app_configs()
    )


def app_of(module: str) -> str:
    return module.split(".", 1)[0]


def upcasters(cls: type[Message]) -> frozenset[int]:
    """The versions ``n`` for which ``cls`` has a callable ``from_v<n>``."""
    found = (_UPCASTER.match(name) for name in dir(cls))
    return frozenset(
        int(m.group(1)) for m in found if m and callable(getattr(cls, m.group(0)))
    )


def build(
    *,
    types: Iterable[type[Message]],
    subscriptions: Iterable[Subscription],
    sagas: Iterable[type[Saga]],
    projections: Iterable[type[Projection]] = (),
    bus_handlers: Mapping[type[Message], Callable[..., Any]] | None = None,
    scope: Callable[[str], bool] = in_contract,
) -> Contract:
    """The contract of the given declarations (tests pass planted ones)."""
    bus_handlers = dict(bus_handlers or {})
    declared = {t.wire_name: t for t in types if scope(t.__module__)}
    saga_specs = {
        s.name: _saga(s) for s in sagas if scope(s.__module__) and _covered(s, declared)
    }
    owners: dict[str, tuple[str | None, Role]] = {
        s.name: (s.__module__, "saga") for s in sagas
    }
    owners.update({p.name: (p.__module__, "projection") for p in projections})
    subscription_specs = {}
    for subscription in subscriptions:
        module, role = owners.get(subscription.name) or (
            _handlers_module(subscription),
            "handlers",
        )
        if module is None or not scope(module):
            continue
        subscription_specs[subscription.name] = SubscriptionSpec(
            name=subscription.name,
            app=app_of(module),
            role=role,
            topics=tuple(sorted(subscription.topics)),
            handles=tuple(sorted(n for n in subscription.handlers if n in declared)),
        )
    messages = {
        name: _message(cls, subscription_specs, saga_specs, bus_handlers, scope)
        for name, cls in sorted(declared.items())
    }
    return Contract(
        messages=messages,
        subscriptions=dict(sorted(subscription_specs.items())),
        sagas=dict(sorted(saga_specs.items())),
    )


def _message(
    cls: type[Message],
    subscriptions: Mapping[str, SubscriptionSpec],
    sagas: Mapping[str, SagaSpec],
    bus_handlers: Mapping[type[Message], Callable[..., Any]],
    scope: Callable[[str], bool],
) -> MessageSpec:
    name = cls.wire_name
    consumers = tuple(s.name for s in subscriptions.values() if name in s.handles)
    is_event = issubclass(cls, Event)
    declared_by = app_of(cls.__module__)
    accepted_by: set[str] = set()
    in_process = False
    if not is_event:
        accepted_by = {subscriptions[c].app for c in consumers}
        handler = bus_handlers.get(cls)
        if handler is not None and scope(_module_of(handler) or ""):
            accepted_by.add(app_of(_module_of(handler) or ""))
            in_process = not consumers
    producers = (
        (declared_by,)
        if is_event
        else tuple(sorted({s.app for s in sagas.values() if name in s.commands()}))
    )
    return MessageSpec(
        type=name,
        kind="event" if is_event else "command",
        version=cls.version,
        topic=cls.topic,
        key=cls.key_field,
        declared_by=declared_by,
        schema=cls.model_json_schema(),
        producers=producers,
        accepted_by=tuple(sorted(accepted_by)),
        consumers=consumers,
        in_process=in_process,
        upcasters=upcasters(cls),
        cls=cls,
    )


def _saga(cls: type[Saga]) -> SagaSpec:
    def name(message: type[Message] | None) -> str | None:
        return message.wire_name if message is not None else None

    return SagaSpec(
        name=cls.name,
        app=app_of(cls.__module__),
        started_by=cls.started_by.wire_name,
        correlate_on=cls.correlate_on,
        steps=tuple(
            StepSpec(
                send=step.send.wire_name,
                done=step.done.wire_name,
                failed=tuple(f.wire_name for f in step.failed),
                undo=name(step.undo),
                undone=name(step.undone),
                within_seconds=int(step.within.total_seconds()),
            )
            for step in cls.steps
        ),
        on_completed=name(cls.on_completed),
        on_compensated=name(cls.on_compensated),
        cancelled_by=name(cls.cancelled_by),
    )


def _covered(cls: type[Saga], declared: Mapping[str, type[Message]]) -> bool:
    """A saga whose messages are all in the contract (a test's saga over test types
    is not)."""
    return cls.started_by.wire_name in declared


def _module_of(fn: Callable[..., Any]) -> str | None:
    module = getattr(fn, "__module__", None)
    if module is None and hasattr(fn, "func"):  # functools.partial
        module = getattr(fn.func, "__module__", None)
    return module


def _handlers_module(subscription: Subscription) -> str | None:
    """The module most of a subscription's handlers are declared in."""
    modules = Counter(
        m for h in subscription.handlers.values() if (m := _module_of(h.fn))
    )
    if not modules:
        return None
    return sorted(modules.items(), key=lambda item: (-item[1], item[0]))[0][0]


def aggregates() -> dict[str, type[Aggregate[Any]]]:
    """Aggregate classes of the contract by class name (a snapshot row names its
    aggregate so: ``events.aggregates.save``)."""
    found: dict[str, type[Aggregate[Any]]] = {}
    pending = list(Aggregate.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if in_contract(cls.__module__) and not getattr(
            cls, "__abstractmethods__", None
        ):
            found[cls.__name__] = cls
    return dict(sorted(found.items()))
