"""A tiny event-sourced aggregate for the platform's tests (no shop meaning)."""

from uuid import UUID

from pydantic import BaseModel

from events.messages import Event, message
from events.store.aggregate import Aggregate


@message("t.Tallied", topic="t.tally", key="tally_id")
class Tallied(Event):
    tally_id: UUID
    amount: int


class TallyState(BaseModel):
    total: int = 0
    count: int = 0
    amounts: tuple[int, ...] = ()


class Tally(Aggregate[TallyState]):
    stream_prefix = "tally"
    State = TallyState
    snapshot_every = 10

    # a tally folds only its own stream, whose events are all Tallied
    @staticmethod
    def evolve(state: TallyState, event: Tallied) -> TallyState:  # type: ignore[override]
        return TallyState(
            total=state.total + event.amount,
            count=state.count + 1,
            amounts=(*state.amounts, event.amount),
        )

    def add(self, amount: int) -> None:
        if amount == 0:
            raise ValueError("nothing to add")
        self.record(Tallied(tally_id=self.id, amount=amount))
