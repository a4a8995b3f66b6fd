"""Projections: read models fed by events, that a replay from offset 0 rebuilds.

A projection owns its tables (no one else writes them) and applies runs of messages
with ``apply`` (in the delivery transaction, so its rows, the inbox and the checkpoint
commit together). It reaches its tables only through ``self.table(Model)``: the live
model normally, a shadow copy while ``events rebuild`` builds a new version side by
side. ``apply`` must be deterministic (times come from the envelope, never from the
clock), so a rebuild gives the same rows as the live model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import ClassVar, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db import models

from ..delivery.subscriptions import Delivery, Subscription
from ..messages import Event

M = TypeVar("M", bound=models.Model)


class Projection(ABC):
    """Base of read models. Subclasses set ``name`` (its subscription), ``topics``,
    ``handles`` (message types it applies) and ``tables`` (models it owns)."""

    name: ClassVar[str]
    topics: ClassVar[tuple[str, ...]]
    handles: ClassVar[tuple[type[Event], ...]]
    tables: ClassVar[tuple[type[models.Model], ...]]
    batch_size: ClassVar[int] = 500

    def __init__(
        self, tables: Mapping[type[models.Model], type[models.Model]] | None = None
    ):
        self._tables = dict(tables) if tables else {m: m for m in self.tables}

    def table(self, model: type[M]) -> type[M]:
        """Where to read and write ``model``'s rows in this run (live or shadow)."""
        # a shadow has the model's fields but is not its subclass (store.rebuild)
        return self._tables[model]  # type: ignore[return-value]

    @abstractmethod
    def apply(self, deliveries: Sequence[Delivery]) -> None:
        """Apply messages in order, in the caller's transaction."""


class UnknownProjection(LookupError):
    """No projection is declared under that name."""


_projections: dict[str, type[Projection]] = {}


def projection(cls: type[Projection]) -> type[Projection]:
    """Declare a projection: register it and subscribe a live instance to its topics
    (decorate the class in the app's projections module, imported from ready())."""
    if cls.name in _projections:
        raise ImproperlyConfigured(f"projection {cls.name!r} is declared twice")
    for model in cls.tables:
        if any(f.is_relation for f in model._meta.concrete_fields):
            raise ImproperlyConfigured(
                f"{model.__name__}: read models hold no relations"
            )
    live = cls()
    subscription = Subscription(cls.name, topics=cls.topics, batch_size=cls.batch_size)
    apply = live.apply  # one object, so the delivery groups all types into one run
    for message_type in cls.handles:
        subscription.on(message_type, batch=True)(apply)
    _projections[cls.name] = cls
    return cls


def all_projections() -> list[type[Projection]]:
    return [_projections[name] for name in sorted(_projections)]


def get(name: str) -> type[Projection]:
    try:
        return _projections[name]
    except KeyError:
        known = ", ".join(sorted(_projections)) or "none"
        raise UnknownProjection(
            f"no projection named {name!r} (declared: {known})"
        ) from None
