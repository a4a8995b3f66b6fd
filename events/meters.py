"""The platform's counters and histograms, counted in the process where a thing
happens (``events.ops.metrics`` has the gauges read from the database at scrape).

Each is counted once per fact, after the transaction that makes it true commits
(``on_commit``): a batch rolled back and redone message by message, a checkpoint that
moved under the drain, or a redelivery the inbox skips counts nothing twice. Handler
durations are the exception: every call took that time, whatever became of it.

A deployment runs many processes (gunicorn workers, Celery pool children), so these
live in prometheus-client's multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is set:
each process writes its values to files of its own in that directory (a memory-mapped
write per increment, no lock shared between processes), and the exposition of one
program sums its processes' files (``events.ops.exposition``). Prometheus sums the
programs. Labels are the subscription (and the journey): names declared in code, so
the series are few.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# Seconds: a handler call is milliseconds, an outside call up to the provider timeout.
_HANDLER_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
)
# Commit to handled: milliseconds when caught up, minutes behind a retry or an outage.
_LATENCY_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    300,
    900,
)
# A journey spans several hops and outside calls: seconds to hours.
_JOURNEY_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600, 14400)

handled = Counter(
    "events_messages_handled",
    "Messages a subscription handled (committed with its inbox row, once per message)",
    ["subscription"],
)
failed = Counter(
    "events_messages_failed",
    "Failed attempts to handle a message (each one counted: retried, parked or held)",
    ["subscription"],
)
retried = Counter(
    "events_messages_retried",
    "Failed attempts followed by a retry with backoff",
    ["subscription"],
)
dead_lettered = Counter(
    "events_messages_dead_lettered",
    "Messages parked as dead letters once their attempts were spent",
    ["subscription"],
)
handler_duration = Histogram(
    "events_handler_duration_seconds",
    "Time in one handler call (a batch handler's run of messages is one call)",
    ["subscription"],
    buckets=_HANDLER_BUCKETS,
)
handled_latency = Histogram(
    "events_handled_latency_seconds",
    "From the message's commit to the log (recorded_at) to its handling's commit",
    ["subscription"],
    buckets=_LATENCY_BUCKETS,
)
journey = Histogram(
    "events_journey_seconds",
    "From a journey's start message to the end message of the same key",
    ["journey", "end"],
    buckets=_JOURNEY_BUCKETS,
)
