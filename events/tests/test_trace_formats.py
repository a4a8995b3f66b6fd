"""The causation tree as JSON-ready data and as a Mermaid flowchart
(events.ops.trace_formats), from a tree built by hand: no database."""

import json
from datetime import UTC, datetime
from uuid import uuid4

from events.messages import Envelope
from events.ops.causation import Node, Receipt, Trace
from events.ops.trace_formats import as_data, as_mermaid

AT = datetime(2026, 12, 2, 1, 29, 37, tzinfo=UTC)


def envelope(type_name, *, cause=None, payload=None):
    return Envelope(
        message_id=uuid4(),
        type=type_name,
        version=1,
        topic=type_name.split(".")[0],
        key="k1",
        partition=3,
        offset=7,
        recorded_at=AT,
        correlation_id=uuid4(),
        causation_id=cause,
        payload=payload or {},
    )


def tree():
    """A reply that moved a saga: its transition (a reason with the characters that
    end or re-mean a Mermaid label) and a command a reader parked."""
    reply = Node(envelope("t.Replied"), [Receipt("saga", "handled", AT, 0.5)])
    failed = Node(
        envelope("sagas.SagaStepFailed", cause=reply.envelope.message_id),
        [Receipt("t.saga", "transition", AT, 0.0, note='step X failed: "no" <#1>')],
    )
    parked = Node(
        envelope("t.Undo", cause=reply.envelope.message_id),
        [Receipt("undoer", "parked", AT, 2.0, attempts=5, error="E", dead_letter_id=4)],
    )
    reply.children = [failed, parked]
    return Trace("k1", [reply.envelope.correlation_id], [reply])


def test_the_data_is_json_nested_by_causation_with_every_field():
    found = tree()
    data = json.loads(json.dumps(as_data(found)))
    (root,) = data["roots"]
    assert root["type"] == "t.Replied" and root["recorded_at"] == AT.isoformat()
    assert [c["type"] for c in root["children"]] == ["sagas.SagaStepFailed", "t.Undo"]
    assert root["children"][1]["receipts"] == [
        {
            "subscription": "undoer",
            "state": "parked",
            "at": AT.isoformat(),
            "seconds_after": 2.0,
            "attempts": 5,
            "error": "E",
            "dead_letter_id": 4,
            "note": "",
        }
    ]
    assert data["messages"] == 3 and data["truncated"] is False


def test_the_flowchart_escapes_labels_rounds_transitions_and_styles_trouble():
    diagram = as_mermaid(tree()).splitlines()
    assert diagram[:4] == [
        "flowchart TD",
        '  m1["t.Replied<br/>p3@7 01:29:37<br/>handled by 1"]',
        '  m2(["sagas.SagaStepFailed<br/>p3@7 01:29:37<br/>t.saga: step X failed: '
        '#quot;no#quot; #lt;#35;1#gt;"])',
        '  m3["t.Undo<br/>p3@7 01:29:37<br/>parked: undoer"]',
    ]
    assert diagram[4:6] == ["  m1 --> m2", "  m1 --> m3"]
    assert "  class m3 trouble" in diagram
