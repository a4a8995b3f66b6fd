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

A command is handled by exactly one handler in the process (``events.commands
.registry``): ``handles`` registers a subscription's own; ``executes`` delivers an
in-process command that arrives through the log to the function registered for it.

``concurrency=N`` lets a subscription whose handlers are all outside run up to N calls
of a partition at once, one key at a time (``events.delivery.window``): for slow
services.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from uuid import UUID

from django.core.exceptions import ImproperlyConfigured

from ..commands import bus
from ..commands.registry import Registration
from ..commands.registry import registry as commands
from ..errors import DomainError
from ..log.pending import PendingMessage, stamp
from ..messages import Command, Envelope, Event, Message
from .retries import Backoff

logger = logging.getLogger("events.delivery")
F = TypeVar("F", bound=Callable[..., None])


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
            stamp(
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
        # Outside calls in flight at once per partition (events.delivery.window); above
        # 1, every handler must be outside=True: a transaction's worth of work gains
        # nothing.
        self.concurrency = concurrency
        self.handlers: dict[str, Handler] = {}
        registry.register(self)

    def __repr__(self) -> str:
        return f"Subscription({self.name!r}, topics={self.topics!r})"

    def handles(
        self, message_type: type[Command], *, outside: bool = False, batch: bool = False
    ) -> Callable[[F], F]:
        """Register the handler of a command (its only handler in the process)."""
        if not issubclass(message_type, Command):
            raise ImproperlyConfigured(
                f"{message_type.__name__} is not a Command; use on()"
            )

        def register(fn: F) -> F:
            self._add(Handler(message_type, fn, outside=outside, batch=batch))
            commands.register(Registration(message_type, None, subscription=self.name))
            return fn

        return register

    def executes(
        self,
        *command_types: type[Command],
        ignoring: tuple[type[DomainError], ...] = (),
    ) -> None:
        """Deliver these in-process commands, arriving through the log, to the function
        registered for each (``@command_handler``), inside the delivery transaction.

        A refusal listed in ``ignoring`` is an answer, not a fault: it is logged and the
        message counts as handled (e.g. a confirmation reaching an order the customer
        cancelled meanwhile, which the saga undoes)."""

        def execute(command: Command, ctx: Context) -> None:
            try:
                bus.run(command)
            except ignoring as refused:
                logger.info("%s: %s refused: %s", self.name, ctx.envelope.type, refused)

        for command_type in command_types:
            commands.in_process(command_type)  # fails now if it has no handler
            self._add(Handler(command_type, execute))

    def on(
        self, message_type: type[Event], *, outside: bool = False, batch: bool = False
    ) -> Callable[[F], F]:
        """Register the reaction to an event."""
        if not issubclass(message_type, Event):
            raise ImproperlyConfigured(
                f"{message_type.__name__} is not an Event; use handles()"
            )

        def register(fn: F) -> F:
            self._add(Handler(message_type, fn, outside=outside, batch=batch))
            return fn

        return register

    def _add(self, handler: Handler) -> None:
        message_type = handler.message_type
        if message_type.topic not in self.topics:
            raise ImproperlyConfigured(
                f"{self.name!r} does not read topic {message_type.topic!r} "
                f"of {message_type.wire_name}"
            )
        if handler.outside and handler.batch:
            raise ImproperlyConfigured("an outside handler takes one message at a time")
        if self.concurrency > 1 and not handler.outside:
            raise ImproperlyConfigured(
                f"{self.name!r} has concurrency {self.concurrency}: "
                "its handlers must be outside=True"
            )
        if message_type.wire_name in self.handlers:
            raise ImproperlyConfigured(
                f"{self.name!r} already handles {message_type.wire_name}"
            )
        self.handlers[message_type.wire_name] = handler

    def handler_for(self, type_name: str) -> Handler | None:
        return self.handlers.get(type_name)

    @property
    def handled_types(self) -> tuple[str, ...]:
        """The wire names of the messages it handles: what its drains read."""
        return tuple(sorted(self.handlers))

    def shows_working(self, envelopes: Sequence[Envelope]) -> bool:
        """Whether delivering ``envelopes`` shows that what this subscription's
        failures depend on works, so that an outage is over or never was: a call of
        an outside handler, for a subscription that calls out (its local handlers
        succeed while the mail server is down); any handled message, for one whose
        handlers are all local."""
        handlers = [self.handler_for(envelope.type) for envelope in envelopes]
        if any(handler.outside for handler in self.handlers.values()):
            return any(handler is not None and handler.outside for handler in handlers)
        return any(handler is not None for handler in handlers)


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
        """Forget a subscription (tests), with the commands it claimed."""
        subscription = self._subscriptions.pop(name, None)
        if subscription is None:
            return
        for registration in commands.all():
            if registration.subscription == name:
                commands.unregister(registration.command_type)

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
