"""Listening for committed messages: PostgreSQL LISTEN on the topics' channels.

The log's writer NOTIFYs ``events.<topic>`` with the partition and the message types
when a transaction that wrote messages commits (``events.log.writer``). A
:class:`Listener` holds one connection of its own in autocommit mode, LISTENs to the
channels of the topics its subscriptions read, and hands each batch of notifications
to ``wake`` as (subscription, partition) targets.

A subscription that handles one of the types written is woken at once. One that reads
the topic but handles none of them (the saga reading ``orders`` for the placement,
woken by the order's later events) would only move its checkpoint past them: that
wake-up is deferred by ``defer_seconds``, and dropped when a wake-up at once of the
same target comes first (its drain reads past them anyway). Under load this turns a
transaction per skipped message into one per target and period. The checkpoint of
such a subscription trails its head by up to that period, which lag shows.

A notification is only a bell: when the connection breaks the listener reconnects
with backoff and, once listening again, wakes everything that is behind (``pending``),
so nothing waits for more than the reconnection.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from django.db import close_old_connections, connections

from ..delivery.checkpoints import Target
from ..delivery.subscriptions import Subscription
from ..log.writer import notify_channel, parse_notify_payload

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # how often a quiet listener looks up from its socket (to stop)
BACKOFF = (0.5, 1.0, 2.0, 5.0)  # seconds between reconnection attempts
DEFER_SECONDS = 5.0  # how long the wake-up of a target that only skips waits


class Listener:
    def __init__(
        self,
        subscriptions: Iterable[Subscription],
        *,
        wake: Callable[[set[Target]], None],
        pending: Callable[[], Iterable[Target]],
        defer_seconds: float = DEFER_SECONDS,
    ) -> None:
        self._readers: dict[str, list[Subscription]] = {}
        for subscription in subscriptions:
            for topic in subscription.topics:
                self._readers.setdefault(notify_channel(topic), []).append(subscription)
        self._wake, self._pending = wake, pending
        self._defer_seconds = defer_seconds
        self._deferred: dict[Target, float] = {}  # target -> when it is woken
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = threading.Event()  # set while LISTENing (tests wait on it)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="events-listener", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def targets(self, channel: str, payload: str) -> tuple[set[Target], set[Target]]:
        """What one notification wakes: at once, the readers of its topic that handle
        one of its types (all of them when it names none); later, the others."""
        try:
            partition, types = parse_notify_payload(payload)
        except ValueError:
            logger.warning(
                "notification on %s with payload %r ignored", channel, payload
            )
            return set(), set()
        now: set[Target] = set()
        later: set[Target] = set()
        for subscription in self._readers.get(channel, ()):
            handles = not types or any(subscription.handler_for(t) for t in types)
            (now if handles else later).add((subscription.name, partition))
        return now, later

    def _ring(self, now: set[Target], later: set[Target]) -> None:
        """Wake ``now``, with the deferred targets that are due; defer ``later``."""
        clock = time.monotonic()
        for target in now:
            self._deferred.pop(target, None)
        for target in later - now:
            self._deferred.setdefault(target, clock + self._defer_seconds)
        due = {target for target, at in self._deferred.items() if at <= clock}
        for target in due:
            del self._deferred[target]
        if now or due:
            self._wake(now | due)

    def _timeout(self) -> float:
        """How long to wait for notifications: until the next deferred wake-up."""
        if not self._deferred:
            return POLL_SECONDS
        due = min(self._deferred.values()) - time.monotonic()
        return min(POLL_SECONDS, max(due, 0.0))

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._listen()
                failures = 0
            except Exception:
                self.listening.clear()
                delay = BACKOFF[min(failures, len(BACKOFF) - 1)]
                failures += 1
                logger.warning(
                    "listener lost its connection; reconnecting in %ss",
                    delay,
                    exc_info=True,
                )
                self._stop.wait(delay)

    def _listen(self) -> None:
        # This thread's own session (which reads what is pending) may have died with
        # the listening one (a server restart): Django reopens a closed session, never
        # a broken one, outside a request.
        close_old_connections()
        wrapper = connections["default"]
        raw = wrapper.get_new_connection(wrapper.get_connection_params())
        try:
            raw.autocommit = True
            for channel in sorted(self._readers):
                raw.execute(f'LISTEN "{channel}"')
            self.listening.set()
            # Anything committed before LISTEN took effect rang no bell here.
            self._deferred.clear()
            self._wake(set(self._pending()))
            while not self._stop.is_set():
                now: set[Target] = set()
                later: set[Target] = set()
                # Wait for the first packet and take all of it: psycopg reads a
                # packet's notifications in one batch, and a generator closed in the
                # middle (a break) drops the rest of it (a commit's other channels
                # and partitions). Then what else is queued, without waiting.
                heard = list(raw.notifies(timeout=self._timeout(), stop_after=1))
                if heard:
                    heard += raw.notifies(timeout=0)
                for note in heard:
                    woken, deferred = self.targets(note.channel, note.payload)
                    now |= woken
                    later |= deferred
                self._ring(now, later)
        finally:
            self.listening.clear()
            raw.close()
