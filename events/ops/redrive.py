"""Redrive as staff ask for it (the admin, the order investigator, the CLI): told
first when a letter's saga has ended, and a failure group one letter at a time.

``events.delivery.deadletters.redrive`` delivers; this decides what to send:

* A letter holding a command of a saga that has ended (``events.sagas.ended``) is
  not sent unless staff say so, and they are told before anything is sent: with
  ``ended="refuse"`` (the default) a request that holds one sends nothing and says
  which and why; ``"skip"`` sends the others; ``"include"`` sends them all.
* A failure group is redriven one letter first (the oldest); the rest follow only if
  it was handled, so a failure that is not over costs one attempt, not hundreds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from ..delivery import deadletters
from ..models import DeadLetter
from ..sagas import ended as saga_ended
from . import failure_groups

Ended = Literal["refuse", "skip", "include"]


@dataclass
class Redrive:
    """What a redrive did: ``handled``, ``failed`` (id: the new error), ``skipped``
    (no longer parked), ``refused`` (id: why, since its saga ended: not sent) and
    ``held_back`` (not sent, because the first of its group failed)."""

    handled: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    skipped: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)
    held_back: list[int] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return len(self.handled) + len(self.failed)

    def summary(self) -> str:
        parts = [
            f"redriven {len(self.handled)}",
            f"failed {len(self.failed)}",
            f"skipped {len(self.skipped)} (not parked)",
        ]
        if self.refused:
            parts.append(f"not sent {len(self.refused)} (their saga has ended)")
        if self.held_back:
            parts.append(f"held back {len(self.held_back)} (the first one failed)")
        return ", ".join(parts)

    def _add(self, report: deadletters.RedriveReport) -> None:
        self.handled += report.handled
        self.failed.update(report.failed)
        self.skipped += report.skipped


def warnings(ids: Iterable[int]) -> dict[int, str]:
    """Why redriving each of these parked letters would come too late (by id)."""
    letters = DeadLetter.objects.filter(
        id__in=list(ids), status=DeadLetter.Status.PARKED
    )
    return saga_ended.warnings(letters)


def redrive(ids: Iterable[int], *, ended: Ended = "refuse") -> Redrive:
    """Redrive these letters, each once, in the order given."""
    wanted = list(ids)
    outcome, chosen = _choose(wanted, ended)
    if chosen:
        outcome._add(deadletters.redrive(chosen))
    return outcome


def redrive_group(gid: str, *, ended: Ended = "refuse") -> Redrive:
    """Redrive a failure group's parked letters: the oldest first, the rest only if it
    was handled. Raises failure_groups.UnknownGroup."""
    group = failure_groups.find(gid)
    outcome, chosen = _choose(group.letter_ids, ended)
    if not chosen:
        return outcome
    first, rest = chosen[0], chosen[1:]
    outcome._add(deadletters.redrive([first]))
    if first in outcome.failed:
        outcome.held_back = rest
    elif rest:
        outcome._add(deadletters.redrive(rest))
    return outcome


def _choose(ids: list[int], ended: Ended) -> tuple[Redrive, list[int]]:
    """The letters to send, and the outcome so far (those refused, and why)."""
    late = {} if ended == "include" else warnings(ids)
    outcome = Redrive(refused=late)
    if late and ended == "refuse":
        return outcome, []
    return outcome, [i for i in ids if i not in late]
