"""The committed event schema registry (docs/events/) and the documents generated
from it are what the code gives now, and ``manage.py events schemas check`` catches
each kind of breaking change planted in a copy of the registry (the code stays as it
is, the copy says what it "was"), never touching the committed files."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

from django.core.management import CommandError, call_command

import pytest

from events.schemas import documents, registry, sources
from events.schemas.compatibility import BREAKING_ADVICE

pytestmark = pytest.mark.static  # code and files only: run once, in the SQLite pass

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def test_committed_registry_and_documents_are_up_to_date():
    # given the committed registry, when the documents are generated from the code
    committed = registry.load(DOCS)
    assert committed is not None, "docs/events/index.json is missing: make schemas"
    files = documents.generated(registry.merge(committed, sources.current()))
    # then every generated file is the committed one
    stale = documents.stale(DOCS, files)
    if stale:
        pytest.fail(
            "generated event documents differ from the committed ones: "
            f"{', '.join(map(str, stale))}; if intended, run `make schemas` and commit "
            "docs/",
            pytrace=False,
        )


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("events", "schemas", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def fails(*args: str) -> tuple[str, str]:
    """Run a command that must fail: (stderr lines, the CommandError's message)."""
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("events", "schemas", *args, stdout=out, stderr=err)
    return err.getvalue(), str(failure.value)


def test_check_passes_on_the_committed_registry():
    out, err = run("check")
    assert out.startswith("the code matches the committed registry: ")
    assert err == ""


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of the committed docs folder's registry and documents."""
    shutil.copytree(DOCS / "events", tmp_path / "events")
    shutil.copy(DOCS / "asyncapi.yaml", tmp_path / "asyncapi.yaml")
    return tmp_path


def edit_index(root: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = root / registry.INDEX
    index = json.loads(path.read_text())
    change(index)
    path.write_text(json.dumps(index))


def edit_schema(
    root: Path, name: str, version: int, change: Callable[[dict[str, Any]], None]
) -> None:
    path = root / registry.schema_path(name, version)
    schema = json.loads(path.read_text())
    change(schema)
    path.write_text(json.dumps(schema))


def _gift_note(schema: dict[str, Any]) -> None:
    schema["properties"]["gift_note"] = {"type": "string"}


def _buyer_id(schema: dict[str, Any]) -> None:
    schema["properties"] = {
        ("buyer_id" if k == "customer_id" else k): v
        for k, v in schema["properties"].items()
    }
    schema["required"] = [
        "buyer_id" if k == "customer_id" else k for k in schema["required"]
    ]


def _quantity_text(schema: dict[str, Any]) -> None:
    schema["properties"]["quantity"] = {"type": "string"}


def _quantity_unbounded(schema: dict[str, Any]) -> None:
    del schema["$defs"]["StockLine"]["properties"]["quantity"]["exclusiveMinimum"]


def _no_tracking_number(schema: dict[str, Any]) -> None:
    del schema["properties"]["tracking_number"]
    schema["required"].remove("tracking_number")


def _any_customer_text(schema: dict[str, Any]) -> None:
    del schema["properties"]["customer_id"]["format"]


PLANTED = {
    "field removed": (
        lambda root: edit_schema(root, "orders.OrderPlaced", 2, _gift_note),
        [
            "BREAKING orders.OrderPlaced v2, field gift_note: field removed: stored "
            "messages carry it and consumers read it by name"
        ],
    ),
    "field renamed": (
        lambda root: edit_schema(root, "orders.OrderPlaced", 2, _buyer_id),
        [
            "BREAKING orders.OrderPlaced v2, field buyer_id: field removed (renamed "
            "to customer_id?): stored messages carry it and consumers read it by name",
            "BREAKING orders.OrderPlaced v2, field customer_id: new required field "
            "without a default: stored messages lack it",
        ],
    ),
    "type changed": (
        lambda root: edit_schema(root, "orders.ItemAdded", 1, _quantity_text),
        [
            "BREAKING orders.ItemAdded v1, field quantity: type changed from string "
            "to integer"
        ],
    ),
    "type narrowed": (
        lambda root: edit_schema(
            root, "inventory.ReserveInventory", 1, _quantity_unbounded
        ),
        [
            "BREAKING inventory.ReserveInventory v1, field lines[].quantity: "
            "narrowed: value now > 0 (was none)"
        ],
    ),
    "format narrowed": (
        lambda root: edit_schema(root, "orders.OrderPlaced", 2, _any_customer_text),
        [
            "BREAKING orders.OrderPlaced v2, field customer_id: narrowed: now "
            "requires format 'uuid'"
        ],
    ),
    "new required field": (
        lambda root: edit_schema(root, "orders.OrderShipped", 1, _no_tracking_number),
        [
            "BREAKING orders.OrderShipped v1, field tracking_number: new required "
            "field without a default: stored messages lack it"
        ],
    ),
    "version went back": (
        lambda root: edit_index(
            root,
            lambda i: i["messages"]["orders.ItemRemoved"].update(
                version=2, versions={"2": "schemas/orders.ItemRemoved.v1.json"}
            ),
        ),
        [
            "BREAKING orders.ItemRemoved v1: version went back from v2 to v1: stored "
            "v2 messages cannot be read (MessageVersionError)"
        ],
    ),
    "wire name reused": (
        lambda root: edit_index(
            root, lambda i: i["messages"]["orders.ItemRemoved"].update(retired=True)
        ),
        [
            "BREAKING orders.ItemRemoved v1: wire name reused: it was retired (its "
            "old messages may still be stored) and is never declared again; choose a "
            "new name"
        ],
    ),
    "type removed": (
        lambda root: edit_index(
            root,
            lambda i: i["messages"].__setitem__(
                "orders.GiftWrapped",
                {**i["messages"]["orders.OrderDispatchStarted"], "consumers": []},
            ),
        ),
        [
            "BREAKING orders.GiftWrapped v1: removed from the code, but stored "
            "history may still hold it (event streams are kept forever; the log "
            "until pruned, dead letters until resolved): keep the type, or once "
            "`manage.py events schemas check --stored` finds none in production, "
            "retire the name: `manage.py events schemas export --retire "
            "orders.GiftWrapped`"
        ],
    ),
    "topic changed": (
        lambda root: edit_index(
            root,
            lambda i: i["messages"]["loyalty.PointsAwarded"].update(topic="orders"),
        ),
        [
            "BREAKING loyalty.PointsAwarded v1: topic changed from orders to loyalty: "
            "stored messages stay on orders, and subscriptions of loyalty never see "
            "them"
        ],
    ),
    "key changed": (
        lambda root: edit_index(
            root, lambda i: i["messages"]["inventory.StockChanged"].update(key="name")
        ),
        [
            "BREAKING inventory.StockChanged v1: key changed from name to sku: one "
            "aggregate's messages would no longer share a partition, so their order "
            "is lost"
        ],
    ),
    "declared by another app": (
        lambda root: edit_index(
            root,
            lambda i: i["messages"]["loyalty.PointsRevoked"].update(
                declared_by="customers"
            ),
        ),
        [
            "BREAKING loyalty.PointsRevoked v1: wire name reused: declared by "
            "customers, now by loyalty; a wire name is never reused, choose a new one"
        ],
    ),
}


@pytest.mark.parametrize("kind", sorted(PLANTED))
def test_check_names_each_planted_breaking_change(copy, kind):
    # given a copy of the registry that says the code used to be otherwise
    plant, expected = PLANTED[kind]
    plant(copy)
    # when the code is checked against it
    err, message = fails("check", "--dir", str(copy))
    # then each breaking change is named, with its type and field, and it fails
    assert err.splitlines() == expected
    count = len(expected)
    assert message.startswith(
        f"{count} breaking change{'s' if count > 1 else ''} against the committed "
        "registry"
    )
    assert message.endswith(BREAKING_ADVICE)
    assert "each line above says what to do" in message


def test_a_compatible_change_passes_and_asks_for_a_re_export(copy):
    # given a registry from before the optional OrderPlaced.currency existed
    def no_currency(schema: dict[str, Any]) -> None:
        del schema["properties"]["currency"]

    edit_schema(copy, "orders.OrderPlaced", 2, no_currency)
    # when checked, then it passes and asks for the export
    out, err = run("check", "--dir", str(copy))
    assert err == ""
    assert out.splitlines()[0] == (
        "re-export: orders.OrderPlaced v2, field currency: new optional field"
    )
    assert "compatible with the committed registry, which is out of date: run " in out


def test_export_refuses_a_breaking_change_and_writes_nothing(copy):
    # given a planted breaking change
    edit_schema(copy, "orders.OrderShipped", 1, _no_tracking_number)
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    # when exported
    err, message = fails("export", "--dir", str(copy))
    # then nothing is written and the change is named
    assert message.startswith("nothing written: 1 breaking change against ")
    assert "orders.OrderShipped v1, field tracking_number" in err
    assert {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()} == before


def test_export_retires_a_removed_type_and_keeps_its_name(copy):
    # given a type the code no longer declares
    PLANTED["type removed"][0](copy)
    # when its name is retired on export
    out, _ = run("export", "--dir", str(copy), "--retire", "orders.GiftWrapped")
    # then the registry keeps it as retired and the check passes
    index = json.loads((copy / registry.INDEX).read_text())
    assert index["messages"]["orders.GiftWrapped"]["retired"] is True
    assert "wrote " in out
    assert run("check", "--dir", str(copy))[0].startswith("the code matches")
    readme = (copy / documents.README).read_text()
    _, retired = readme.split("Retired wire names (never reused): ", 1)
    assert "`orders.GiftWrapped`" in retired.split("\n", 1)[0]


def test_export_refuses_to_retire_a_declared_type(copy):
    _, message = fails("export", "--dir", str(copy), "--retire", "orders.OrderPaid")
    assert message == "cannot retire orders.OrderPaid: still declared in the code"


def test_check_without_a_registry_fails_clearly(tmp_path):
    _, message = fails("check", "--dir", str(tmp_path))
    assert message.startswith(f"no committed registry at {tmp_path}")
    assert "run `make schemas`" in message


def test_an_unreadable_registry_fails_clearly(copy):
    (copy / registry.INDEX).write_text("{not json")
    _, message = fails("check", "--dir", str(copy))
    assert "cannot be read (JSONDecodeError" in message
    assert message.endswith("restore it from version control")


def test_a_stale_document_asks_for_a_re_export(copy):
    (copy / documents.ASYNCAPI).write_text("asyncapi: 3.0.0\n")
    out, _ = run("check", "--dir", str(copy))
    assert f"re-export: {copy / 'asyncapi.yaml'}: out of date" in out
