"""The Celery dispatcher: a drain task per (subscription, partition), sent on commit.

Tasks carry only the subscription name and partition. Wake-ups are coalesced: a flag
per (subscription, partition) in Redis (``SET NX``) lets only the first commit send a
task while one is already queued; the task clears the flag when it starts, before it
reads the log, so a commit after that start sends a new task and none is missed. Under
load this turns one task per commit into one per drain.

A broker or Redis outage costs a committing request one refused connect, never a wait
(no retries, short timeouts): the beat sweep delivers once they are back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import cache
from typing import Any

import redis
from celery import current_app

from ..delivery.checkpoints import Target
from ..delivery.subscriptions import registry
from ..log.writer import commits_notify, ring

logger = logging.getLogger(__name__)

FLAG_TTL = 60  # seconds: a flag whose task was lost stops suppressing wake-ups


def _flags() -> redis.Redis:
    """The flags live beside the tasks, in the broker's Redis: a broker that restarts
    empty loses both together."""
    return _client(current_app.conf.broker_url)


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)


def flag_key(subscription: str, partition: int) -> str:
    return f"events:wake:{subscription}:{partition}"


def clear_flag(subscription: str, partition: int) -> None:
    """Called by a drain task as it starts: later commits must send a new task."""
    try:
        _flags().delete(flag_key(subscription, partition))
    except redis.RedisError:
        logger.warning(
            "could not clear the wake-up flag of %s p%s",
            subscription,
            partition,
            exc_info=True,
        )


def _ring(targets: list[Target]) -> None:
    try:
        ring(
            (topic, partition)
            for name, partition in targets
            for topic in registry.get(name).topics
        )
    except Exception:
        logger.warning(
            "could not notify the workers; the sweep will deliver %s",
            ", ".join(f"{s} p{p}" for s, p in targets),
            exc_info=True,
        )


DRAIN_TASK = "events.drain"  # events.tasks.drain_partition


def send_drain(subscription: str, partition: int, **options: Any) -> None:
    """Queue a drain task on the subscription's own queue, if it declares one. Sent by
    name: the task lives in ``events.tasks``, the entry point workers import."""
    queue = registry.get(subscription).queue
    if queue:
        options["queue"] = queue
    current_app.send_task(DRAIN_TASK, args=(subscription, partition), **options)


class CeleryDispatcher:
    def wake(self, targets: Iterable[Target]) -> None:
        """When commits NOTIFY (``events.log.writer.commits_notify``), ring the topics
        the subscriptions read, as a commit does (the workers listen:
        ``events.dispatch.worker``); else a flag and a drain task."""
        wanted = sorted(targets)
        if not wanted:
            return
        if commits_notify():
            _ring(wanted)
            return
        try:
            # One round trip for every flag of the commit (a placed order wakes the
            # half dozen subscriptions reading its topic).
            pipeline = _flags().pipeline(transaction=False)
            for subscription, partition in wanted:
                pipeline.set(flag_key(subscription, partition), 1, nx=True, ex=FLAG_TTL)
            first = pipeline.execute()
            for (subscription, partition), was_set in zip(wanted, first, strict=True):
                if was_set:  # else a drain task is queued and has not started yet
                    send_drain(subscription, partition, retry=False)
        except Exception:
            logger.warning(
                "broker unavailable; the sweep will deliver %s",
                ", ".join(f"{s} p{p}" for s, p in wanted),
                exc_info=True,
            )
