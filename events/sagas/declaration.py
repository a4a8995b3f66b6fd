"""Declaring a saga: the event that starts it, the field that correlates its replies,
its steps, and the commands it ends with; and building those commands from its state.

A saga's state is the data its commands are built from: the starting event's fields,
then the fields of each step's done event as the step completes (and, for the command
sent when the saga gives up, ``reason`` and ``reason_code``). Every field of every
command the saga sends is taken from a field of the state of the same name; nothing is
defaulted or dropped in silence:

* when the saga is declared, :func:`check` proves that the state at the point each
  command is sent has every field the command declares, nested models field by field
  (a nested address is not "supplied" by a state that has no such address), and fails
  loudly (ImproperlyConfigured) naming the saga, the step, the command and the field;
* when a command is built, a field absent from the state is an error too, never a
  default.
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, Protocol, Union, get_args, get_origin

from django.core.exceptions import ImproperlyConfigured

from pydantic import BaseModel

from ..messages import Command, Event, Message

# Added by the engine to the state of a saga that gives up (for ``on_compensated``).
GIVING_UP_FIELDS = ("reason", "reason_code")


@dataclass(frozen=True)
class Step:
    """Send ``send``; ``done`` completes the step, any of ``failed`` fails it;
    ``undo`` compensates it once done, confirmed by ``undone``; ``within`` is its
    deadline (past it, the step counts as failed).

    ``title`` names, in words people read, who performs the step ("the payment
    service"): reasons shown or mailed to customers are built from it, never from a
    type name. ``code`` is the stable machine prefix of the step's reason codes
    (``<code>_timed_out``, ``<code>_failed``, ``<code>_refused``); it defaults to the
    command's name in snake case."""

    send: type[Command]
    done: type[Event]
    title: str
    failed: tuple[type[Event], ...] = ()
    undo: type[Command] | None = None
    undone: type[Event] | None = None
    within: timedelta = timedelta(minutes=5)
    code: str = ""

    def __post_init__(self) -> None:
        if not self.code:
            object.__setattr__(self, "code", snake_case(self.send.__name__))

    @property
    def name(self) -> str:
        return self.send.__name__


class Saga:
    """Base of saga declarations; subclass and set the class attributes, then decorate
    with ``events.sagas.registry.saga`` (in a module imported from ``ready()``)."""

    name: ClassVar[str]
    started_by: ClassVar[type[Event]]
    correlate_on: ClassVar[str]
    steps: ClassVar[tuple[Step, ...]]
    on_completed: ClassVar[type[Command] | None] = None
    on_compensated: ClassVar[type[Command] | None] = None
    cancelled_by: ClassVar[type[Event] | None] = None


class Publish(Protocol):
    """Where the engine publishes: ``ctx.publish`` in a delivery, ``events.publish``
    in a deadline's or a staff action's unit of work."""

    def __call__(self, *messages: Message) -> object: ...


class SagaStateError(LookupError):
    """A command needs a field the saga's state does not hold (a declaration the check
    let through would be a bug in the check: this is the runtime guard)."""


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def build(command_type: type[Command], data: Mapping[str, Any]) -> Command:
    """The command from the saga's state: every one of its fields, by name."""
    fields = command_type.model_fields
    missing = sorted(set(fields) - data.keys())
    if missing:
        raise SagaStateError(
            f"{command_type.__name__} needs {', '.join(missing)}, which the saga's "
            "state does not hold"
        )
    return command_type.model_validate({name: data[name] for name in fields})


# --- the check at declaration ---------------------------------------------------------

Fields = Mapping[str, Any]  # field name -> its annotation


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    return {name: info.annotation for name, info in model.model_fields.items()}


def check(saga: type[Saga]) -> None:
    """Fail (ImproperlyConfigured) unless every command the saga sends can be built
    from its state at the moment it is sent."""
    problems: list[str] = []
    known = _fields(saga.started_by)
    for index, step in enumerate(saga.steps):
        where = f"step {index} ({step.name})"
        problems += _unsupplied(step.send, known, where)
        after = {**known, **_fields(step.done)}
        if step.undo is not None:
            problems += _unsupplied(step.undo, after, f"{where}, its undo")
        known = after
    if saga.on_completed is not None:
        problems += _unsupplied(saga.on_completed, known, "on_completed")
    if saga.on_compensated is not None:
        # the earliest it can be sent: the first step failed
        giving_up = {**_fields(saga.started_by), **dict.fromkeys(GIVING_UP_FIELDS, str)}
        problems += _unsupplied(saga.on_compensated, giving_up, "on_compensated")
    if problems:
        raise ImproperlyConfigured(
            f"saga {saga.name!r} cannot build its commands from its state: "
            + "; ".join(problems)
        )


def _unsupplied(command: type[BaseModel], state: Fields, where: str) -> list[str]:
    return [
        f"{where}: {command.__name__}.{path}"
        for path in _missing(_fields(command), state)
    ]


def _missing(wanted: Fields, state: Fields, prefix: str = "") -> list[str]:
    """Paths of ``wanted`` fields that ``state`` does not supply, with why."""
    found: list[str] = []
    for name, annotation in wanted.items():
        path = f"{prefix}{name}"
        if name not in state:
            found.append(f"{path} (the state has no {name!r})")
            continue
        target, source = _model_of(annotation), _model_of(state[name])
        if target is not None:
            if source is None:
                found.append(f"{path} (the state's {name!r} is not a model)")
            else:
                found += _missing(_fields(target), _fields(source), f"{path}.")
    return found


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds: itself, inside Optional, or a tuple/list of them."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType, tuple, list):
        for arg in get_args(annotation):
            model = _model_of(arg)
            if model is not None:
                return model
    return None
