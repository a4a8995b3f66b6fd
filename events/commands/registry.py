"""The one registry of command handlers: a command is a request to exactly one handler.

A command type is handled either in-process (``@command_handler``: a function of the
command, run in the caller's unit of work by ``bus.execute`` or ``bus.run``) or by a
subscription that receives it from the log with its delivery context (``Subscription
.handles``: a participant such as inventory). Both register here, so a second handler
of one command type, anywhere in the process, fails at declaration. A subscription may
also deliver an in-process command that arrives through the log (``Subscription
.executes``): it then runs the very function registered here, never a copy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured

from ..messages import Command

C = TypeVar("C", bound=Command)
CommandHandler = Callable[[C], object]


class NoHandler(LookupError):
    """No in-process handler is registered for the command's type."""


@dataclass(frozen=True)
class Registration:
    """Who handles a command type: an in-process function, or a subscription."""

    command_type: type[Command]
    fn: (
        Callable[..., object] | None
    )  # the in-process handler, None for a subscription's
    subscription: str | None = None


class CommandRegistry:
    def __init__(self) -> None:
        self._registered: dict[type[Command], Registration] = {}

    def register(self, registration: Registration) -> None:
        existing = self._registered.get(registration.command_type)
        if existing is not None:
            where = (
                f"subscription {existing.subscription!r}"
                if existing.fn is None
                else f"{existing.fn.__module__}."
                f"{getattr(existing.fn, '__qualname__', existing.fn)}"
            )
            raise ImproperlyConfigured(
                f"{registration.command_type.__name__} already has a handler ({where})"
            )
        self._registered[registration.command_type] = registration

    def unregister(self, command_type: type[Command]) -> None:
        self._registered.pop(command_type, None)

    def in_process(self, command_type: type[C]) -> CommandHandler[C]:
        """The in-process handler of a command type; NoHandler when there is none (a
        subscription's command is published, not executed)."""
        found = self._registered.get(command_type)
        if found is None:
            raise NoHandler(f"no handler is registered for {command_type.__name__}")
        if found.fn is None:
            raise NoHandler(
                f"{command_type.__name__} is handled by subscription "
                f"{found.subscription!r}: publish it instead"
            )
        return found.fn

    def in_process_types(self) -> set[type[Command]]:
        return {t for t, r in self._registered.items() if r.fn is not None}

    def all(self) -> list[Registration]:
        return list(self._registered.values())


registry = CommandRegistry()


def command_handler(
    command_type: type[C],
) -> Callable[[CommandHandler[C]], CommandHandler[C]]:
    """Register the in-process handler of a command type (in the app's
    ``commands`` module, imported from ``ready()``)."""

    def register(fn: CommandHandler[C]) -> CommandHandler[C]:
        registry.register(Registration(command_type, fn))
        return fn

    return register
