"""Retry policy: exponential backoff with jitter, capped, then dead letters."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Backoff:
    """Delay before attempt n+1 after n failures: ``base * 2**(n-1)``, capped, with
    "equal jitter" (half fixed, half random) so retries of many partitions spread out
    without ever retrying at once (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/).
    """

    base: timedelta = timedelta(seconds=1)
    cap: timedelta = timedelta(minutes=10)

    def delay(self, failures: int, *, rng: random.Random | None = None) -> timedelta:
        ceiling: timedelta = min(self.cap, self.base * (2 ** max(failures - 1, 0)))
        fraction = 0.5 + 0.5 * (rng or random).random()
        return ceiling * fraction
