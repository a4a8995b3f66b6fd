"""When the Black Friday bench's orders are due: evenly spaced, or Poisson arrivals.

Evenly spaced arrivals lock the shop's work into step with the placements: an order's
journey resumes when the provider answers, a fixed time after its own placement, so
whether that work lands on a later order's accept depends on the provider's latency
modulo ``1 / rate``. With the 8 s provider at 6 orders/s, even arrivals gave an accept
p50 of 6.2 ms, and 7.5 ms with 8,083 ms, the same code (docs/scaling.md). Random
arrivals spread that work over every accept alike, as real customers do.

One draw of random instants still fixes where the journeys resumed by one provider
meet later placements: with seed 1128, four orders due within 100 ms at 23.6 s
resumed with the 8 s provider just as five more were due at 31.64 to 31.72 s, in
every run, and those accepts were the slowest of the 8 s phases. So each round draws
its own instants (``bench.blackfriday.run``), and the runner's seed is drawn for each
run unless ``--seed`` gives it.
"""

from __future__ import annotations

import random

# Each kind, as the report's header names it.
ARRIVALS = {
    "poisson": "Poisson arrivals (seed {seed}: round r at seed + r - 1, both of its"
    " phases at the same instants)",
    "even": "evenly spaced",
}


def arrivals(count: int, *, rate: float, kind: str, seed: int) -> list[float]:
    """When each of ``count`` orders is due, in seconds from the start, at ``rate`` a
    second on average over ``count / rate`` seconds.

    ``even``: order ``i`` at ``i / rate``. ``poisson``: the instants of a Poisson
    process with ``count`` arrivals in that span (uniform instants, sorted), the same
    for a seed."""
    if kind == "even":
        return [index / rate for index in range(count)]
    if kind == "poisson":
        draw = random.Random(seed)
        return sorted(draw.uniform(0.0, count / rate) for _ in range(count))
    raise ValueError(f"arrivals must be one of {', '.join(ARRIVALS)}, not {kind!r}")
