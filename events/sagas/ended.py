"""Commands parked by a saga that has since ended: what staff must hear before a
redrive sends one.

A saga's command can be parked as a dead letter (its participant kept failing), and
the saga then goes on without it: the step's deadline fails it and the saga
compensates, or staff resolve it by hand. Redriving that command later would act on a
business transaction that is over (a charge for an order already rejected and
refunded). Participants are written to cope (an undo of something never done, a
charge after a refund take nothing), but a person deciding to redrive must be told
first, so every redrive entry point asks :func:`warnings` before it sends anything.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..models import DeadLetter, SagaInstance
from .declaration import Saga
from .registry import all_sagas

Status = SagaInstance.Status
ENDED = (Status.COMPLETED, Status.COMPENSATED, Status.RESOLVED)


def commands_sent_by(saga: type[Saga]) -> set[str]:
    """The wire names of every command the saga sends (steps, undos, endings)."""
    sent = {s.send for s in saga.steps} | {s.undo for s in saga.steps if s.undo}
    sent |= {c for c in (saga.on_completed, saga.on_compensated) if c is not None}
    return {name for c in sent if (name := getattr(c, "wire_name", None))}


def warnings(letters: Iterable[DeadLetter]) -> dict[int, str]:
    """For each letter holding a command of a saga instance that has ended, why a
    redrive would come too late (by letter id); letters of running sagas, events and
    commands no saga sends are not in it."""
    wanted: dict[tuple[str, str], list[DeadLetter]] = {}
    sagas = {saga.name: saga for saga in all_sagas()}
    for letter in letters:
        for saga in sagas.values():
            key = letter.payload.get(saga.correlate_on)
            if key is not None and letter.type in commands_sent_by(saga):
                wanted.setdefault((saga.name, str(key)), []).append(letter)
    if not wanted:
        return {}
    found: dict[int, str] = {}
    instances = SagaInstance.objects.filter(
        key__in={key for _, key in wanted}, saga__in={name for name, _ in wanted}
    )
    for instance in instances:
        if instance.status not in ENDED:
            continue
        saga = sagas[instance.saga]
        what = saga.correlate_on.removesuffix("_id").replace("_", " ") or "transaction"
        ended = instance.updated_at.strftime("%Y-%m-%d %H:%M:%S %Z")
        why = f": {instance.reason}" if instance.reason else ""
        for letter in wanted.get((instance.saga, instance.key), []):
            found[letter.id] = (
                f"{letter.type} was sent by saga {instance.saga} {instance.key}, "
                f"which has ended ({instance.status} at {ended}{why}); redriving it "
                f"would act on a finished {what}"
            )
    return found
