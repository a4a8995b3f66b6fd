"""Raising the partition count under load: writers publishing, real ``celery worker``
processes delivering, and ``manage.py events repartition`` run as an operator would,
from a process of its own. Per-key order is checked for every key across the switch,
and nothing may be lost or doubled.

The handler (``tests.effects.subscriptions.run_job``) writes one ``Effect`` row per
message in its delivery transaction: the rows' ids give the order in which each key's
messages were handled, and each writer thread owns its keys and publishes them with
increasing ``n``, so for every key the ids must follow ``n``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import defaultdict
from typing import cast

from django.db import connection, connections, transaction

import pytest

from events.delivery.waiting import wait_for_messages
from events.log import layout
from events.log.outbox import publish
from events.log.partitions import partition_for
from events.log.pending import PendingMessage
from events.models import PartitionCut
from processes import BASE_DIR
from processes.celery_worker import database_url
from tests.effects.contracts import RunJob
from tests.effects.models import Effect
from tests.effects.subscriptions import RUNNER
from tests.support.workers import celery_worker

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

WRITERS, KEYS_PER_WRITER = 4, 12
BEFORE, AFTER = 80, 80  # messages each writer publishes before the switch and after it


def job(item: PendingMessage) -> RunJob:
    """A writer's message: writers publish RunJob only."""
    return cast(RunJob, item.message)


class Writer(threading.Thread):
    """Publishes its own keys round-robin, one message per transaction, with ``n``
    increasing per key, until told to stop after ``AFTER`` more."""

    def __init__(self, number: int) -> None:
        super().__init__(name=f"writer-{number}", daemon=True)
        self.keys = [f"w{number}-key{i}" for i in range(KEYS_PER_WRITER)]
        self.published: list[PendingMessage] = []
        self.before = threading.Event()
        self.switched = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            sent_after = 0
            while sent_after < AFTER:
                key = self.keys[len(self.published) % len(self.keys)]
                n = len(self.published) // len(self.keys)
                with transaction.atomic():
                    self.published += publish(RunJob(key=key, n=n))
                if len(self.published) >= BEFORE:
                    self.before.set()
                if self.switched.is_set():
                    sent_after += 1
        except BaseException as error:
            self.error = error
            self.before.set()
        finally:
            connections.close_all()


class Repartition:
    """``manage.py events repartition`` in a process of its own, as an operator runs
    it: the same database and broker as the workers, the Celery dispatcher.

    The writers go on until the command has switched and then publish ``AFTER``
    more each: a load that stops, so the drain it waits for has an end (writers
    left running for the whole wait outran five workers on two cores)."""

    def __init__(self, broker: str, partitions: int) -> None:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "shop.settings.test",
            "DATABASE_URL": database_url(
                connection.settings_dict, application_name="repartition"
            ),
            "REDIS_URL": broker,
            "EVENTS_DISPATCHER": "celery",
            "PYTHONUNBUFFERED": "1",
        }
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "events", "repartition", str(partitions)]
            + ["--timeout", "120"],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []

    def switched(self) -> None:
        """Returns once the command said it switched (or ended without saying so)."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if " partitions at " in line:
                return

    def finish(self) -> tuple[int, str]:
        """The command's exit code and all it printed, once it has ended."""
        rest, _ = self.process.communicate(timeout=180)
        return self.process.returncode, "".join(self.lines) + rest


# A worker process holds a session per lane thread it has drained on (its
# subscriptions x EVENTS_WORKER_THREADS), plus its listener's two and its sweep's:
# with two, the five processes below could take every one of the test server's 100
# sessions once a raise wakes every lane at once (docs/scaling.md, connections).
ONE_LANE = {"EVENTS_WORKER_THREADS": "1"}


def test_raising_the_count_under_load_keeps_every_keys_order(broker):
    with (
        celery_worker(broker_url=broker, concurrency=2, extra_env=ONE_LANE),
        celery_worker(broker_url=broker, concurrency=2, extra_env=ONE_LANE),
        # the Procfile's payments worker: that subscription's own queue
        celery_worker(
            broker_url=broker,
            queues=("payments",),
            pool="threads",
            concurrency=8,
            extra_env=ONE_LANE,
        ),
    ):
        # given writers publishing 48 keys while the workers deliver
        writers = [Writer(number) for number in range(WRITERS)]
        for writer in writers:
            writer.start()
        for writer in writers:
            assert writer.before.wait(60), "writers did not get going"
        # when the operator raises the count from 8 to 16 in the middle of it
        command = Repartition(broker, 16)
        command.switched()
        for writer in writers:
            writer.switched.set()
        for writer in writers:
            writer.join(120)
            assert writer.error is None, writer.error
        # then the command switched and saw every subscription drain the old layout
        returncode, output = command.finish()
        assert returncode == 0, output
        assert "8 -> 16 partitions" in output
        assert "settled" in output
        assert layout.partition_count() == 16
        assert PartitionCut.objects.get().settled_at is not None
        # and every message is handled once
        published = [item for writer in writers for item in writer.published]
        wait_for_messages(RUNNER, published, timeout=90)
    handled = list(
        Effect.objects.filter(label=RUNNER)
        .order_by("id")
        .values_list("key", "value", "message_id")
    )
    counts: dict[object, int] = defaultdict(int)
    for _, _, message_id in handled:
        counts[message_id] += 1
    assert {m for m, c in counts.items() if c > 1} == set(), "handled twice"
    assert set(counts) == {item.message_id for item in published}, "lost or extra"
    # and each key's messages were handled in the order they were published, across
    # the switch: the keys that moved too
    order: dict[str, list[int]] = defaultdict(list)
    for key, value, _ in handled:
        order[key].append(value)
    for writer in writers:
        for key in writer.keys:
            sent = [job(i).n for i in writer.published if job(i).key == key]
            assert order[key] == sent, f"{key}: handled {order[key]}, sent {sent}"
    # and the switch happened in the middle of the load: keys that moved have
    # messages in both of their partitions
    moved = {
        key
        for writer in writers
        for key in writer.keys
        if partition_for(key, 8) != partition_for(key, 16)
    }
    both = {
        job(i).key
        for writer in writers
        for i in writer.published
        if job(i).key in moved and i.partition >= 8
    } & {
        job(i).key
        for writer in writers
        for i in writer.published
        if job(i).key in moved and i.partition < 8
    }
    assert len(both) >= len(moved) // 2 > 0, (len(both), len(moved))
