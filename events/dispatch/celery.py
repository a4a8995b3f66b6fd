"""The Celery dispatcher: a drain task per (subscription, partition), sent on commit.

Tasks carry only the subscription name and partition. Publishing uses no retries and
short socket timeouts (CELERY_BROKER_TRANSPORT_OPTIONS), so a broker outage costs a
request a failed connect, not a wait: the beat sweep delivers once the broker is back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from ..checkpoints import Target

logger = logging.getLogger(__name__)


class CeleryDispatcher:
    def wake(self, targets: Iterable[Target]) -> None:
        from ..tasks import send_drain

        for subscription, partition in sorted(targets):
            try:
                send_drain(subscription, partition, retry=False)
            except Exception:
                logger.warning(
                    "broker unavailable; the sweep will deliver %s p%s",
                    subscription,
                    partition,
                    exc_info=True,
                )
                return
