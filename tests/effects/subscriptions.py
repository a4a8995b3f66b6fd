"""Subscriptions declared in code, for tests that run a real ``celery worker``.

A worker process only knows the subscriptions registered by the apps' ``ready()``, not
those a test declares in its own process, so these are registered by
``EffectsConfig.ready()`` in every test run. They read only the topic ``w.jobs``;
other tests never publish there, so for them these subscriptions just move their
checkpoints past other topics' messages.

Each handled message writes one ``Effect`` row (label = the subscription name) in the
delivery transaction: counting rows per ``message_id`` shows double effects."""

from __future__ import annotations

import logging
import os
import time
from datetime import timedelta

from events.delivery.retries import Backoff
from events.delivery.subscriptions import Context, Subscription
from events.models import Checkpoint

from .contracts import RunJob
from .models import Effect

logger = logging.getLogger(__name__)

RUNNER = "w.runner"

# Small batches and a short backoff: a slow batch is in flight for a fraction of a
# second, and a poison message is parked after three attempts, at least 0.6 s after
# the first (0.2-0.4 s, then 0.4-0.8 s): time in which other partitions must flow.
runner = Subscription(
    RUNNER,
    topics=("w.jobs",),
    batch_size=50,
    max_attempts=3,
    backoff=Backoff(base=timedelta(milliseconds=400), cap=timedelta(milliseconds=800)),
)


class JobFailed(RuntimeError):
    """The failure a job asked for (``fail_times``)."""


def failed_attempts(ctx: Context) -> int:
    """How many attempts at this message have failed so far.

    Kept by the platform on the checkpoint (a failed attempt rolls back everything the
    handler wrote, so the handler cannot count them itself); read in the delivery
    transaction, so it is the committed count."""
    failing_offset, attempts = Checkpoint.objects.filter(
        subscription=ctx.subscription, partition=ctx.envelope.partition
    ).values_list("failing_offset", "attempts").first() or (None, 0)
    return attempts if failing_offset == ctx.envelope.offset else 0


@runner.handles(RunJob)
def run_job(job: RunJob, ctx: Context) -> None:
    """Sleep ``sleep_ms`` (logging where, so a test can see a batch in flight), fail
    the first ``fail_times`` attempts, then record one effect."""
    if job.sleep_ms:
        logger.info(
            "w.runner handling p%s@%s in pid %s",
            ctx.envelope.partition,
            ctx.envelope.offset,
            os.getpid(),
        )
        time.sleep(job.sleep_ms / 1000)
    failed = failed_attempts(ctx)
    if job.fail_times < 0 or failed < job.fail_times:
        raise JobFailed(f"job {job.key}/{job.n} fails (attempt {failed + 1})")
    Effect.objects.create(
        label=ctx.subscription,
        key=job.key,
        value=job.n,
        message_id=ctx.envelope.message_id,
    )
