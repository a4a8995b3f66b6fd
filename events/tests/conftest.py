"""Fixtures shared by the platform's tests."""

from django.db import transaction

import pytest

from events.delivery.drain import drain
from events.log.outbox import publish
from events.log.partitions import partition_for
from events.models import DeadLetter
from tests.effects.models import Effect

from .support.messages import ThingHappened


@pytest.fixture
def parked(subscribe):
    """A subscription 'cli' with one parked dead letter whose handler is now fixed."""
    sub = subscribe("cli", topics=("t.things",), max_attempts=1)
    state = {"broken": True}

    @sub.on(ThingHappened)
    def handle(event, ctx):
        if state["broken"]:
            raise ValueError("bad thing")
        Effect.objects.create(label="cli", key=event.thing_id)

    with transaction.atomic():
        publish(ThingHappened(thing_id="a"))
    drain(sub, partition_for("a"))
    state["broken"] = False
    return DeadLetter.objects.get()
