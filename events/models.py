"""Tables of the event platform: the log (the outbox), partition heads, the partition
layout, checkpoints, the inbox and the dead letters. Nothing here knows about shops."""

from __future__ import annotations

from django.db import models

from .messages import Envelope


def envelope_of(row: LogEntry | DeadLetter) -> Envelope:
    """The envelope of a log row, or of the copy a dead letter keeps."""
    return Envelope(
        **{name: getattr(row, name) for name in Envelope.__dataclass_fields__}
    )


class LogEntry(models.Model):
    """One message in the log: an outbox row written in its producer's transaction.

    ``offset`` is per partition, gap-free and in commit order (see ``events.log``).
    """

    partition = models.PositiveSmallIntegerField()
    offset = models.BigIntegerField()
    topic = models.CharField(max_length=100)
    type = models.CharField(max_length=200)
    version = models.PositiveSmallIntegerField()
    key = models.CharField(max_length=200)
    message_id = models.UUIDField(unique=True)
    correlation_id = models.UUIDField(db_index=True)
    causation_id = models.UUIDField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    payload = models.JSONField()
    recorded_at = models.DateTimeField()
    # Set for events of an event-sourced aggregate: its stream and version (1, 2, ...).
    # Such rows are the aggregate's history and are never pruned. NULL, not "", for
    # other rows, so the unique (stream, stream_version) constraint ignores them.
    stream = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    stream_version = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        db_table = "events_log"
        verbose_name = "log entry"
        verbose_name_plural = "log"
        constraints = [
            models.UniqueConstraint(
                fields=["partition", "offset"], name="events_log_partition_offset"
            ),
            # Optimistic concurrency: two appends at one version cannot both commit.
            models.UniqueConstraint(
                fields=["stream", "stream_version"], name="events_log_stream_version"
            ),
        ]
        indexes = [
            models.Index(
                fields=["topic", "partition", "offset"], name="events_log_topic_pos"
            ),
            models.Index(fields=["recorded_at"], name="events_log_recorded"),
            # Tracing by an aggregate's id (events.ops.causation): its messages' key.
            models.Index(fields=["key"], name="events_log_key"),
        ]

    def __str__(self) -> str:
        return f"{self.type} p{self.partition}@{self.offset}"

    def envelope(self) -> Envelope:
        return envelope_of(self)


class PartitionHead(models.Model):
    """The last offset handed out in a partition; its row lock orders commits."""

    partition = models.PositiveSmallIntegerField(primary_key=True)
    last_offset = models.BigIntegerField(default=0)

    class Meta:
        db_table = "events_partition_head"

    def __str__(self) -> str:
        return f"p{self.partition} head {self.last_offset}"


class PartitionLayout(models.Model):
    """How many partitions the log has: one row (id 1), so that every process agrees.

    Writers read it under a shared lock when they take offsets, and a repartition
    changes it under the exclusive one (``events.log.layout``): a process whose
    ``EVENTS_PARTITIONS`` differs follows the database (the setting only seeds a new
    one). ``generation`` counts the layouts; each raise has its ``PartitionCut``."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    partitions = models.PositiveSmallIntegerField()
    generation = models.PositiveIntegerField(default=1)
    changed_at = models.DateTimeField()

    class Meta:
        db_table = "events_partition_layout"

    def __str__(self) -> str:
        return f"{self.partitions} partitions (generation {self.generation})"


class PartitionCut(models.Model):
    """One raise of the partition count: ``fences`` are the old partitions' heads at
    the moment writes moved to the new layout (every offset up to a fence is of the
    old layout). ``settled_at`` is set once every subscription has passed them."""

    generation = models.PositiveIntegerField(primary_key=True)  # the one it started
    partitions_before = models.PositiveSmallIntegerField()
    partitions = models.PositiveSmallIntegerField()
    fences = models.JSONField()  # {"<partition>": head at the cut}
    cut_at = models.DateTimeField()
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "events_partition_cut"

    def __str__(self) -> str:
        return f"{self.partitions_before} -> {self.partitions} partitions"


class PartitionGate(models.Model):
    """Per-key order across a cut: in ``partition``, the offsets above ``upto`` are of
    a newer layout, and some of their keys had older messages in ``feeder`` up to
    ``feeder_fence``. A subscription reads past ``upto`` only once its checkpoint in
    ``feeder`` has reached ``feeder_fence`` (``events.delivery.checkpoints.where``)."""

    generation = models.PositiveIntegerField()
    partition = models.PositiveSmallIntegerField()
    upto = models.BigIntegerField()
    feeder = models.PositiveSmallIntegerField()
    feeder_fence = models.BigIntegerField()

    class Meta:
        db_table = "events_partition_gate"
        constraints = [
            models.UniqueConstraint(
                fields=["generation", "partition", "feeder"],
                name="events_gate_unique",
            )
        ]
        indexes = [models.Index(fields=["partition"], name="events_gate_partition")]

    def __str__(self) -> str:
        return f"p{self.partition}>{self.upto} after p{self.feeder}@{self.feeder_fence}"


class Checkpoint(models.Model):
    """A consumer group's position in one partition, plus the retry state of the message
    at the front of it (a failing message holds its partition back until it succeeds or
    is dead-lettered, so per-key order is kept)."""

    subscription = models.CharField(max_length=100)
    partition = models.PositiveSmallIntegerField()
    position = models.BigIntegerField(
        default=0, help_text="Offset of the last message handled or passed over."
    )
    failing_offset = models.BigIntegerField(null=True, blank=True)
    failing_key = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    retry_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    failing_since = models.DateTimeField(
        null=True, blank=True, help_text="When the message at the front first failed."
    )
    handled_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=(
            "When a delivery of this partition last showed that what the "
            "subscription's failures depend on works (an outside call, or any "
            "message for a subscription with local handlers only)."
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "events_checkpoint"
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "partition"], name="events_checkpoint_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.subscription} p{self.partition} @{self.position}"


class SubscriptionPause(models.Model):
    """A subscription that does not deliver for now: an outage its handlers met (the
    same failure on several keys: ``events.delivery.outages``), probed with backoff
    until a probe succeeds, or a pause staff made by hand (no probe: until resumed)."""

    subscription = models.CharField(max_length=100, primary_key=True)
    reason = models.TextField()
    error = models.TextField(help_text="The failure's shape: its class and message.")
    paused_at = models.DateTimeField()
    probe_at = models.DateTimeField(
        null=True, blank=True, help_text="Next probe; none for a pause by hand."
    )
    probes = models.PositiveIntegerField(default=0)
    by = models.CharField(
        max_length=150, blank=True, help_text="Who paused it by hand."
    )

    class Meta:
        db_table = "events_subscription_pause"

    def __str__(self) -> str:
        return f"{self.subscription} paused: {self.reason}"


class InboxEntry(models.Model):
    """A message a subscription has handled; written with the handler's effects."""

    subscription = models.CharField(max_length=100)
    message_id = models.UUIDField()
    partition = models.PositiveSmallIntegerField()
    offset = models.BigIntegerField()
    handled_at = models.DateTimeField()

    class Meta:
        db_table = "events_inbox"
        verbose_name_plural = "inbox entries"
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "message_id"], name="events_inbox_unique"
            )
        ]
        indexes = [
            models.Index(
                fields=["subscription", "partition", "offset"], name="events_inbox_pos"
            )
        ]

    def __str__(self) -> str:
        return f"{self.subscription} handled {self.message_id}"


class DeadLetter(models.Model):
    """A message a subscription gave up on after its retries, with a copy of the message
    (so pruning the log never loses it), the error and the traceback."""

    class Status(models.TextChoices):
        PARKED = "parked"
        REDRIVEN = "redriven"
        DISCARDED = "discarded"

    subscription = models.CharField(max_length=100)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PARKED
    )
    message_id = models.UUIDField()
    type = models.CharField(max_length=200)
    version = models.PositiveSmallIntegerField()
    topic = models.CharField(max_length=100)
    key = models.CharField(max_length=200)
    partition = models.PositiveSmallIntegerField()
    offset = models.BigIntegerField()
    recorded_at = models.DateTimeField()
    correlation_id = models.UUIDField(db_index=True)
    causation_id = models.UUIDField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    payload = models.JSONField()
    stream = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    stream_version = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField()
    traceback = models.TextField(blank=True)
    attempts = models.PositiveIntegerField()
    failing_since = models.DateTimeField(
        null=True, blank=True, help_text="When its first attempt failed."
    )
    parked_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "events_dead_letter"
        indexes = [
            models.Index(
                fields=["subscription", "status"], name="events_dl_sub_status"
            ),
            # Finding a message's trace and the search (events.ops.causation,
            # deadletters.matching): by key and by message id, across subscriptions.
            models.Index(fields=["key"], name="events_dl_key"),
            models.Index(fields=["message_id"], name="events_dl_message"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "message_id"], name="events_dl_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.subscription}: {self.type} ({self.status})"

    def envelope(self) -> Envelope:
        return envelope_of(self)


class Snapshot(models.Model):
    """An aggregate's state at a version, so loading it reads only the events after.

    ``schema`` is the aggregate class's snapshot version when it was taken: a snapshot
    of another shape is ignored (the stream is folded from the start), never mis-read.
    """

    stream = models.CharField(max_length=200)
    version = models.PositiveIntegerField()
    aggregate = models.CharField(max_length=100)
    schema = models.PositiveSmallIntegerField()
    state = models.JSONField()
    taken_at = models.DateTimeField()

    class Meta:
        db_table = "events_snapshot"
        constraints = [
            models.UniqueConstraint(
                fields=["stream", "version", "schema"], name="events_snapshot_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.stream}@{self.version} (schema {self.schema})"


class SagaInstance(models.Model):
    """One running (or finished) saga: where it is and the data its commands are built
    from. Changed only in the transaction of the reply that moved it."""

    class Status(models.TextChoices):
        RUNNING = "running"
        COMPENSATING = "compensating"
        COMPLETED = "completed"
        COMPENSATED = "compensated"
        NEEDS_ATTENTION = "needs_attention"
        RESOLVED = "resolved"  # a person settled it by hand

    saga = models.CharField(max_length=100)
    key = models.CharField(max_length=200)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.RUNNING
    )
    step = models.PositiveSmallIntegerField(default=0)
    data = models.JSONField(default=dict)
    reason = models.TextField(blank=True, help_text="Why it gave up, in words.")
    reason_code = models.CharField(
        max_length=100, blank=True, help_text="The reason's stable machine code."
    )
    deadline = models.DateTimeField(null=True, blank=True)
    correlation_id = models.UUIDField(db_index=True)
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "events_saga"
        constraints = [
            models.UniqueConstraint(fields=["saga", "key"], name="events_saga_unique")
        ]
        indexes = [
            models.Index(fields=["status", "deadline"], name="events_saga_deadline")
        ]

    def __str__(self) -> str:
        return f"{self.saga} {self.key} ({self.status})"


class IdempotencyKey(models.Model):
    """A client's Idempotency-Key within a scope (e.g. one customer), with the
    fingerprint of the request that first used it and, once that request completed,
    its response, replayed to retries until the key expires (see
    ``events.idempotency``).

    ``attempt`` names the request holding the key in flight; a request that takes over
    an abandoned key (its holder died) changes it, so the old holder can no longer
    complete it and its work rolls back."""

    class Status(models.TextChoices):
        IN_FLIGHT = "in_flight"
        COMPLETED = "completed"

    scope = models.CharField(max_length=200)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    status = models.CharField(
        max_length=9, choices=Status.choices, default=Status.IN_FLIGHT
    )
    attempt = models.UUIDField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    response_body = models.TextField(blank=True)
    created_at = models.DateTimeField(help_text="First use: the key expires from here.")
    locked_at = models.DateTimeField(help_text="When the current attempt started.")
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "events_idempotency_key"
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "key"], name="events_idempotency_key_unique"
            )
        ]
        indexes = [models.Index(fields=["created_at"], name="events_idem_created")]

    def __str__(self) -> str:
        return f"{self.scope} {self.key} ({self.status})"
