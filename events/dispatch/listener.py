"""Listening for committed messages: PostgreSQL LISTEN on the topics' channels.

The log's writer NOTIFYs ``events.<topic>`` with the partition when a transaction
that wrote messages commits (``events.log.writer``). A :class:`Listener` holds one
connection of its own in autocommit mode, LISTENs to the channels of the topics its
subscriptions read, and hands each batch of notifications to ``wake`` as (subscription,
partition) targets. A notification is only a bell: when the connection breaks the
listener reconnects with backoff and, once listening again, wakes everything that is
behind (``pending``), so nothing waits for more than the reconnection.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from django.db import close_old_connections, connections

from ..delivery.checkpoints import Target
from ..delivery.subscriptions import Subscription
from ..log.writer import notify_channel

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # how often a quiet listener looks up from its socket (to stop)
BACKOFF = (0.5, 1.0, 2.0, 5.0)  # seconds between reconnection attempts


class Listener:
    def __init__(
        self,
        subscriptions: Iterable[Subscription],
        *,
        wake: Callable[[set[Target]], None],
        pending: Callable[[], Iterable[Target]],
    ) -> None:
        self._readers: dict[str, list[str]] = {}
        for subscription in subscriptions:
            for topic in subscription.topics:
                self._readers.setdefault(notify_channel(topic), []).append(
                    subscription.name
                )
        self._wake, self._pending = wake, pending
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

    def targets(self, channel: str, payload: str) -> set[Target]:
        """What one notification wakes: every subscription reading its topic."""
        try:
            partition = int(payload)
        except ValueError:
            logger.warning(
                "notification on %s with payload %r ignored", channel, payload
            )
            return set()
        return {(name, partition) for name in self._readers.get(channel, ())}

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
            self._wake(set(self._pending()))
            while not self._stop.is_set():
                woken: set[Target] = set()
                # Wait for the first packet and take all of it: psycopg reads a
                # packet's notifications in one batch, and a generator closed in the
                # middle (a break) drops the rest of it (a commit's other channels
                # and partitions). Then what else is queued, without waiting.
                for note in raw.notifies(timeout=POLL_SECONDS, stop_after=1):
                    woken |= self.targets(note.channel, note.payload)
                if woken:
                    for note in raw.notifies(timeout=0):
                        woken |= self.targets(note.channel, note.payload)
                    self._wake(woken)
        finally:
            self.listening.clear()
            raw.close()
