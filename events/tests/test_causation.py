"""The causation tree (events.ops.causation): what one request caused, and per
subscription what became of each message; a saga's transitions as its own. SQLite and
PostgreSQL."""

from datetime import timedelta
from uuid import uuid4

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

import pytest

from events.delivery import deadletters
from events.delivery.drain import drain
from events.delivery.retries import Backoff
from events.delivery.subscriptions import registry
from events.log.context import correlation_scope
from events.log.outbox import publish
from events.log.partitions import partition_for
from events.models import DeadLetter
from events.ops.causation import UnknownTraceTarget, trace

from .support.messages import DoThing, OtherHappened, ThingHappened
from .support.saga_parts import BEHAVIOUR, ThingRequested

pytestmark = pytest.mark.django_db(transaction=True)
NO_WAIT = Backoff(base=timedelta(0), cap=timedelta(0))


@pytest.fixture
def chain(subscribe):
    """A request publishes DoThing for "k"; "worker" handles it and publishes
    ThingHappened; "audit" reads that one too but fails for good (max 1 attempt);
    "late" reads OtherHappened and is never drained."""
    worker = subscribe("worker", topics=("t.things",))
    audit = subscribe("audit", topics=("t.things",), max_attempts=1, backoff=NO_WAIT)
    late = subscribe("late", topics=("t.other",))

    @worker.handles(DoThing)
    def do(command, ctx):
        ctx.publish(ThingHappened(thing_id=command.thing_id, n=1))
        ctx.publish(OtherHappened(thing_id=command.thing_id))

    audit_down = {"down": True}

    @audit.on(ThingHappened)
    def refuse(event, ctx):
        if audit_down["down"]:
            raise ValueError("the audit service said no")

    late.on(OtherHappened)(lambda event, ctx: None)
    correlation = uuid4()
    with correlation_scope(correlation), transaction.atomic():
        (sent,) = publish(DoThing(thing_id="k"))
    partition = partition_for("k")
    drain(worker, partition)
    drain(audit, partition)
    return correlation, sent, audit_down


def _by_type(result):
    return {node.envelope.type: (depth, node) for depth, node in result.nodes()}


def test_a_trace_by_correlation_id_is_the_tree_of_causes_with_receipts(chain):
    correlation, sent, _ = chain
    # when
    result = trace(str(correlation))
    # then the command is the root and what its handler published are its children
    assert result.correlation_ids == [correlation]
    nodes = _by_type(result)
    assert nodes["t.DoThing"][0] == 0
    assert nodes["t.ThingHappened"][0] == 1 and nodes["t.OtherHappened"][0] == 1
    command = nodes["t.DoThing"][1]
    assert [c.envelope.type for c in command.children] == [
        "t.ThingHappened",
        "t.OtherHappened",
    ]
    # and each receipt says what became of the message in each reader
    (handled,) = command.receipts
    assert handled.subscription == "worker" and handled.state == "handled"
    assert handled.seconds_after is not None and handled.seconds_after >= 0
    receipts = {r.subscription: r for r in nodes["t.ThingHappened"][1].receipts}
    assert receipts["audit"].state == "parked"
    assert receipts["audit"].dead_letter_id == DeadLetter.objects.get().id
    assert "the audit service said no" in receipts["audit"].error
    (notice,) = nodes["t.ThingHappened"][1].children
    assert notice.envelope.type == "deadletters.MessageParked"
    (pending,) = nodes["t.OtherHappened"][1].receipts
    assert (pending.subscription, pending.state) == ("late", "pending")


def test_a_trace_finds_the_same_tree_by_message_id_and_by_key(chain):
    correlation, sent, _ = chain
    for asked in (str(sent.message_id), "k"):
        result = trace(asked)
        assert result.correlation_ids == [correlation], asked
        # the command, what its handler published, and the notice of the audit's
        # dead letter, under the message it parked
        assert result.size == 4


def test_a_redriven_letter_reads_handled_in_the_trace(chain):
    correlation, _, audit_down = chain
    letter = DeadLetter.objects.get()
    # when the audit service is back and staff redrive
    audit_down["down"] = False
    assert deadletters.redrive([letter.id]).handled == [letter.id]
    # then
    nodes = _by_type(trace(str(correlation)))
    receipts = {r.subscription: r for r in nodes["t.ThingHappened"][1].receipts}
    assert receipts["audit"].state == "handled"
    assert receipts["audit"].dead_letter_id == letter.id


def test_an_unknown_id_is_a_clear_error():
    with pytest.raises(UnknownTraceTarget, match="no message has the id"):
        trace(str(uuid4()))
    with pytest.raises(UnknownTraceTarget):
        trace("no-such-key")


def test_a_sagas_transitions_read_as_its_own_inline_under_the_reply_that_moved_it():
    # given the platform's test saga run to completion
    BEHAVIOUR.update(hold="ok", charge="ok", release="ok")
    with transaction.atomic():
        publish(ThingRequested(thing_id="s1", amount=5))
    readers = ("t.thing-saga", "t.saga-participant", "events.alerts")
    while sum(
        drain(registry.get(name), partition_for("s1")).handled for name in readers
    ):
        pass
    # when
    nodes = [(depth, node) for depth, node in trace("s1").nodes()]
    # then every transition has the saga's receipt saying what changed
    said = [
        (node.envelope.type, [(r.subscription, r.state, r.note) for r in node.receipts])
        for _, node in nodes
        if node.envelope.type.startswith("sagas.")
    ]
    assert said == [
        ("sagas.SagaStarted", [("t.thing-saga", "transition", "started")]),
        (
            "sagas.SagaStepCompleted",
            [("t.thing-saga", "transition", "step HoldThing done")],
        ),
        (
            "sagas.SagaStepCompleted",
            [("t.thing-saga", "transition", "step ChargeThing done")],
        ),
        ("sagas.SagaCompleted", [("t.thing-saga", "transition", "completed")]),
    ]
    # and each sits under the message whose handling moved the saga
    parents = {
        child.envelope.type + ":" + child.envelope.payload.get("step", ""): node
        for _, node in nodes
        for child in node.children
    }
    assert parents["sagas.SagaStarted:"].envelope.type == "t.saga.ThingRequested"
    assert parents["sagas.SagaStepCompleted:HoldThing"].envelope.type == (
        "t.saga.ThingHeld"
    )
    assert parents["sagas.SagaCompleted:"].envelope.type == "t.saga.ThingCharged"
    # and a transition's time is when the saga wrote it (it took effect then)
    started = next(n for _, n in nodes if n.envelope.type == "sagas.SagaStarted")
    assert started.receipts[0].at == started.envelope.recorded_at


TABLES = ("events_log", "events_inbox", "events_dead_letter")


def test_every_read_of_a_trace_seeks_an_index(chain):
    """Every read of the log, the inbox and the dead letters seeks an index (by its
    first column), so a trace costs the same on a log of any length: asked of the
    database's own planner (on PostgreSQL told to avoid sequential scans, which it
    prefers on tables this small)."""
    correlation, sent, _ = chain
    for asked in (str(correlation), str(sent.message_id), "k", str(uuid4())):
        with CaptureQueriesContext(connection) as done:
            try:
                trace(asked)
            except UnknownTraceTarget:
                pass
        for query in done.captured_queries:
            assert _whole_reads(query["sql"]) == [], (asked, query["sql"])


def _whole_reads(sql: str) -> list[str]:
    """The reads of a big table in this query's plan that do not seek an index."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            # "SEARCH t USING INDEX i (c=?)" seeks; "SCAN t" reads it all
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            steps = [row[-1] for row in cursor.fetchall()]
            return [s for s in steps if s.split()[:2] in (["SCAN", t] for t in TABLES)]
        cursor.execute("SET enable_seqscan = off")
        try:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
            plan = cursor.fetchone()[0][0]["Plan"]
            return [
                f"{scan['Node Type']} {scan.get('Index Cond', '')}"
                for scan in _scans(plan)
                if scan["Node Type"] == "Seq Scan"
                or _leading_column(cursor, scan["Index Name"])
                not in scan.get("Index Cond", "")
            ]
        finally:
            cursor.execute("RESET enable_seqscan")


def _scans(plan: dict) -> list[dict]:
    """The nodes of a PostgreSQL plan that read one of the big tables (for a bitmap
    heap scan, its index scans, which carry the condition)."""
    found = [plan] if plan.get("Relation Name") in TABLES else []
    if plan.get("Node Type") == "Bitmap Heap Scan":
        found = []
    for child in plan.get("Plans", []):
        if child.get("Node Type") == "Bitmap Index Scan":
            found.append(child)
        else:
            found += _scans(child)
    return found


def _leading_column(cursor, index: str) -> str:
    """An index seeks only by a condition on its first column; one on a later column
    alone walks all of it."""
    cursor.execute(
        "SELECT a.attname FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indexrelid"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
        " WHERE c.relname = %s",
        [index],
    )
    return cursor.fetchone()[0]
