"""``manage.py events schemas asyncapi`` prints an AsyncAPI 3.0 document that the
official parser (npm ``@asyncapi/parser``, pinned in tools/asyncapi, installed by
``make test`` with ``npm ci``) accepts with no error and no warning, and that says
what the registries declare: a channel per topic with its partition keys, every
message with its payload schema and version, an operation per publishing app and per
consuming subscription."""

from __future__ import annotations

import shutil
import subprocess
from io import StringIO
from pathlib import Path
from typing import Any

from django.core.management import call_command

import pytest
import yaml

from events.schemas import sources

pytestmark = pytest.mark.static  # code and files only: run once, in the SQLite pass

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "asyncapi"


def printed() -> str:
    out = StringIO()
    call_command("events", "schemas", "asyncapi", stdout=out)
    return out.getvalue()


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None or not (TOOL / "node_modules" / "@asyncapi" / "parser").is_dir():
        pytest.fail(
            "the AsyncAPI parser is not installed: run `make test` (it runs `npm ci` "
            "in tools/asyncapi) or `cd tools/asyncapi && npm ci --ignore-scripts`",
            pytrace=False,
        )
    return subprocess.run(
        [node, str(TOOL / "validate.mjs"), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_printed_document_passes_the_official_parser(tmp_path):
    # given the document the command prints
    path = tmp_path / "asyncapi.yaml"
    path.write_text(printed())
    # when the official parser validates it
    result = validate(path)
    # then it parses with no error or warning
    assert result.returncode == 0, result.stdout + result.stderr
    channels = len({m.topic for m in sources.current().messages.values()})
    assert f"valid AsyncAPI 3.0.0: {channels} channels, " in result.stdout


def test_the_parser_refuses_a_broken_document(tmp_path):
    # given an operation on a channel that does not exist (the validation is real)
    document = yaml.safe_load(printed())
    document["operations"]["orders.sends.orders"]["channel"] = {
        "$ref": "#/channels/nowhere"
    }
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(document))
    # when validated, then it fails and says why
    result = validate(path)
    assert result.returncode == 1
    assert "error" in result.stdout and "nowhere" in result.stdout


def test_the_committed_document_is_the_printed_one():
    assert (ROOT / "docs" / "asyncapi.yaml").read_text() == printed(), (
        "docs/asyncapi.yaml is out of date: run `make schemas` and commit it"
    )


def _document() -> dict[str, Any]:
    return yaml.safe_load(printed())


def test_a_channel_per_topic_with_its_partition_keys():
    document = _document()
    assert document["asyncapi"] == "3.0.0"
    channels = document["channels"]
    assert sorted(channels) == [
        "customers",
        "deadletters",
        "inventory",
        "loyalty",
        "orders",
        "payments",
        "sagas",
        "shipping",
    ]
    assert channels["inventory"]["x-partition-keys"] == ["order_id", "sku"]
    assert channels["orders"]["address"] == "orders"


def test_every_message_has_its_payload_schema_and_version():
    document = _document()
    messages = document["components"]["messages"]
    # every type at its current version, in-process commands included
    current = {f"{name}.v{m.version}" for name, m in sources.current().messages.items()}
    assert current <= set(messages)
    placed = messages["orders.OrderPlaced.v2"]
    assert placed["x-version"] == 2 and placed["x-partition-key"] == "order_id"
    assert placed["payload"] == {"$ref": "#/components/schemas/orders.OrderPlaced.v2"}
    assert placed["headers"]["allOf"][1]["properties"]["version"] == {"const": 2}
    payload = document["components"]["schemas"]["orders.OrderPlaced.v2"]
    assert payload["properties"]["shipping_address"] == {
        "$ref": "#/components/schemas/Address"
    }
    # a command the bus runs in process is described, but on no channel
    assert "orders.PlaceOrder.v1" in messages
    assert "orders.PlaceOrder.v1" not in document["channels"]["orders"]["messages"]


def test_an_operation_per_publishing_app_and_consuming_subscription():
    operations = _document()["operations"]
    sends = operations["orders.sends.inventory"]
    assert sends["action"] == "send"
    assert sends["channel"] == {"$ref": "#/channels/inventory"}
    assert sends["messages"] == [
        {"$ref": "#/channels/inventory/messages/inventory.ReleaseInventory.v1"},
        {"$ref": "#/channels/inventory/messages/inventory.ReserveInventory.v1"},
    ]
    receives = operations["orders.fulfilment.receives.payments"]
    assert receives["action"] == "receive"
    assert [m["$ref"].rsplit("/", 1)[1] for m in receives["messages"]] == [
        "payments.PaymentDeclined.v1",
        "payments.PaymentRefunded.v1",
        "payments.PaymentSucceeded.v1",
    ]
    senders = {k.split(".sends.")[0] for k in operations if ".sends." in k}
    assert senders == {
        "customers",
        "events",
        "inventory",
        "loyalty",
        "orders",
        "payments",
        "shipping",
    }
    receivers = {k.split(".receives.")[0] for k in operations if ".receives." in k}
    # one per consuming subscription of the contract, and those are the shop's
    assert receivers == set(sources.current().subscriptions)
    assert {
        "events.alerts",
        "inventory",
        "loyalty",
        "notifications",
        "orders",
        "orders.availability",
        "orders.customers",
        "orders.fulfilment",
        "orders.summary",
        "payments",
        "shipping",
    } <= receivers
