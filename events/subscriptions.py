"""Subscriptions: consumer groups declared in code by each app.

A subscription has a stable name (renaming it makes a new consumer group), the topics it
reads, one handler per message type, and a checkpoint per log partition. Handlers are
plain functions registered with decorators::

    inventory = Subscription("inventory", topics=("inventory", "orders"))

    @inventory.handles(ReserveInventory)
    def reserve_inventory(cmd: ReserveInventory, ctx: Context) -> None: ...

A handler whose effects live in this database runs inside the delivery transaction (its
effects, the inbox row and the checkpoint commit together). One declared
``outside=True`` runs with no transaction open and must pass ``ctx.idempotency_key``
to the outside service; a ``batch=True`` handler receives each run of consecutive
messages it handles (one function may handle several types) at once.

``concurrency=N`` lets a subscription whose handlers are all outside run up to N calls
of a partition at once, one key at a time (``events.window``): for slow services.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

from django.core.exceptions import ImproperlyConfigured

from . import outbox
from .log import PendingMessage
from .messages import Command, Envelope, Event, Message
from .retries import Backoff


@dataclass
class Context:
    """What a handler gets besides the message: the envelope, an idempotency key for
    outside calls, and ``publish`` which keeps the correlation id and sets causation."""

    subscription: str
    envelope: Envelope
    published: list[PendingMessage] = field(default_factory=list)

    @property
    def idempotency_key(self) -> str:
        """Stable across redeliveries of this message to this subscription."""
        return f"{self.subscription}:{self.envelope.message_id}"

    @property
    def correlation_id(self) -> UUID:
        return self.envelope.correlation_id

    def publish(
        self, *messages: Message, headers: dict[str, str] | None = None
    ) -> None:
        """Publish as a consequence of the handled message (with its effects)."""
        self.published.extend(
            outbox.pending(
                *messages,
                correlation_id=self.envelope.correlation_id,
                causation_id=self.envelope.message_id,
                headers=headers,
            )
        )


@dataclass(frozen=True)
class Delivery:
    """One message of a batch given to a ``batch=True`` handler."""

    message: Any
    ctx: Context


@dataclass(frozen=True)
class Handler:
    message_type: type[Message]
    fn: Callable[..., None]
    outside: bool = False
    batch: bool = False


Start = Literal["earliest", "latest"]


class Subscription:
    """A consumer group: a name, its topics, its handlers and its retry policy."""

    def __init__(
        self,
        name: str,
        *,
        topics: Sequence[str],
        max_attempts: int = 5,
        backoff: Backoff | None = None,
        batch_size: int = 500,
        start: Start = "earliest",
        queue: str | None = None,
        concurrency: int = 1,
        register: bool = True,
    ) -> None:
        if not topics:
            raise ImproperlyConfigured(f"subscription {name!r} reads no topic")
        if max_attempts < 1 or batch_size < 1 or concurrency < 1:
            raise ImproperlyConfigured(
                f"{name!r}: max_attempts, batch_size, concurrency must be >= 1"
            )
        self.name = name
        self.topics = tuple(topics)
        self.max_attempts = max_attempts
        self.backoff = backoff or Backoff()
        self.batch_size = batch_size
        self.start = start
        # Celery queue of its drain tasks: give slow, I/O-bound subscriptions their own
        # queue and worker (e.g. a thread pool) so they never occupy the others' slots.
        self.queue = queue
        # Outside calls in flight at once per partition (events.window); above 1, every
        # handler must be outside=True: a transaction's worth of work gains nothing.
        self.concurrency = concurrency
        self.handlers: dict[str, Handler] = {}
        if register:
            registry.register(self)

    def __repr__(self) -> str:
        return f"Subscription({self.name!r}, topics={self.topics!r})"

    def handles(
        self, message_type: type[Command], *, outside: bool = False, batch: bool = False
    ) -> Callable[[Callable[..., None]], Callable[..., None]]:
        """Register the handler of a command."""
        if not issubclass(message_type, Command):
            raise ImproperlyConfigured(
                f"{message_type.__name__} is not a Command; use on()"
            )
        return self._register(message_type, outside=outside, batch=batch)

    def on(
        self, message_type: type[Event], *, outside: bool = False, batch: bool = False
    ) -> Callable[[Callable[..., None]], Callable[..., None]]:
        """Register the reaction to an event."""
        if not issubclass(message_type, Event):
            raise ImproperlyConfigured(
                f"{message_type.__name__} is not an Event; use handles()"
            )
        return self._register(message_type, outside=outside, batch=batch)

    def _register(
        self, message_type: type[Message], *, outside: bool, batch: bool
    ) -> Callable[[Callable[..., None]], Callable[..., None]]:
        if message_type.topic not in self.topics:
            raise ImproperlyConfigured(
                f"{self.name!r} does not read topic {message_type.topic!r} "
                f"of {message_type.wire_name}"
            )
        if outside and batch:
            raise ImproperlyConfigured("an outside handler takes one message at a time")
        if self.concurrency > 1 and not outside:
            raise ImproperlyConfigured(
                f"{self.name!r} has concurrency {self.concurrency}: "
                "its handlers must be outside=True"
            )

        def register(fn: Callable[..., None]) -> Callable[..., None]:
            if message_type.wire_name in self.handlers:
                raise ImproperlyConfigured(
                    f"{self.name!r} already handles {message_type.wire_name}"
                )
            self.handlers[message_type.wire_name] = Handler(
                message_type, fn, outside=outside, batch=batch
            )
            return fn

        return register

    def handler_for(self, type_name: str) -> Handler | None:
        return self.handlers.get(type_name)


class UnknownSubscription(LookupError):
    """No subscription is declared under that name."""


class Registry:
    """Every declared subscription, by name; filled from each app's ``ready()``."""

    def __init__(self) -> None:
        self._subscriptions: dict[str, Subscription] = {}

    def register(self, subscription: Subscription) -> None:
        if subscription.name in self._subscriptions:
            raise ImproperlyConfigured(
                f"subscription {subscription.name!r} is declared twice"
            )
        self._subscriptions[subscription.name] = subscription

    def unregister(self, name: str) -> None:
        self._subscriptions.pop(name, None)

    def get(self, name: str) -> Subscription:
        try:
            return self._subscriptions[name]
        except KeyError:
            known = ", ".join(sorted(self._subscriptions)) or "none"
            raise UnknownSubscription(
                f"no subscription named {name!r} (declared: {known})"
            ) from None

    def all(self) -> list[Subscription]:
        return sorted(self._subscriptions.values(), key=lambda s: s.name)

    def reading(self, topic: str) -> list[Subscription]:
        return [s for s in self._subscriptions.values() if topic in s.topics]


registry = Registry()
