"""The gate (``events.schemas.compatibility``) on planted code: message classes built
here, compared with a registry exported from other planted classes, never with the
committed one. Each breaking kind is caught and named; compatible changes only ask for
a re-export."""

from typing import Any, Literal

import pytest
from pydantic import BaseModel

from events.messages import Event
from events.schemas import registry as registries
from events.schemas import sources
from events.schemas.compatibility import Finding, check
from events.schemas.registry import Registry


def declare(
    cls: type[Event],
    name: str = "t.Planted",
    *,
    topic: str = "t.plants",
    key: str = "plant_id",
    version: int = 1,
    module: str | None = None,
) -> type[Event]:
    """Give a class its wire name, topic, key and version without registering it
    (the global registry stays untouched, and no declaration check runs)."""
    cls.wire_name, cls.topic, cls.key_field, cls.version = name, topic, key, version
    if module is not None:
        cls.__module__ = module
    return cls


def contract(*types: type[Event]):
    return sources.build(types=types, subscriptions=(), sagas=(), scope=lambda m: True)


def exported(*types: type[Event], previous: Registry | None = None) -> Registry:
    return registries.merge(previous, contract(*types))


def breaking(findings: list[Finding]) -> list[str]:
    return [str(f) for f in findings if f.level == "breaking"]


class V1(Event):
    plant_id: str
    colour: Literal["red", "green", "blue"]
    height: int


def test_the_same_code_passes_with_nothing_to_do():
    committed = exported(declare(V1))
    assert check(committed, contract(declare(V1))) == []


def test_a_removed_enum_value_is_caught():
    committed = exported(declare(V1))

    class Fewer(Event):
        plant_id: str
        colour: Literal["red", "blue"]
        height: int

    assert breaking(check(committed, contract(declare(Fewer)))) == [
        't.Planted v1, field colour: enum value removed: "green"'
    ]


def test_a_new_optional_field_only_asks_for_a_re_export():
    committed = exported(declare(V1))

    class More(Event):
        plant_id: str
        colour: Literal["red", "green", "blue"]
        height: int
        pot: str | None = None

    found = check(committed, contract(declare(More)))
    assert [(f.level, str(f)) for f in found] == [
        ("export", "t.Planted v1, field pot: new optional field")
    ]


class V2Lost(Event):
    """v2 without the from_v1 its version needs (built past the declaration check,
    which would refuse it)."""

    plant_id: str
    colour: str
    height_cm: int


def test_a_version_bumped_without_its_upcaster_is_caught():
    committed = exported(declare(V1))
    found = check(committed, contract(declare(V2Lost, version=2)))
    assert breaking(found) == [
        "t.Planted v2: version bumped to v2 without from_v1: stored v1 messages "
        "cannot be upcast"
    ]


class V2Wrong(Event):
    plant_id: str
    colour: str
    height_cm: int

    @staticmethod
    def from_v1(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "height": data["height"] * 100}  # forgot to rename it


class V2Right(Event):
    plant_id: str
    colour: str
    height_cm: int

    @staticmethod
    def from_v1(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "height_cm": data.pop("height") * 100}


def test_an_upcaster_that_does_not_give_the_current_shape_is_caught():
    committed = exported(declare(V1))
    found = breaking(check(committed, contract(declare(V2Wrong, version=2))))
    assert len(found) == 2  # the minimal and the full v1 example
    assert found[0].startswith(
        "t.Planted v1: a minimal v1 document does not read after upcasting to v2 "
        "(ValidationError: 1 validation error for V2Wrong height_cm Field required"
    )


def test_a_version_bump_with_its_upcaster_passes_and_keeps_the_old_schema():
    committed = exported(declare(V1))
    code = contract(declare(V2Right, version=2))
    found = check(committed, code)
    assert [(f.level, str(f)) for f in found] == [
        ("export", "t.Planted v2: new version")
    ]
    # the export keeps v1's schema beside v2's: stored v1 messages still exist
    assert exported(declare(V2Right, version=2), previous=committed).messages[
        "t.Planted"
    ].versions == [1, 2]


def test_a_version_that_goes_back_is_caught():
    committed = exported(declare(V2Right, version=2))
    assert breaking(check(committed, contract(declare(V1)))) == [
        "t.Planted v1: version went back from v2 to v1: stored v2 messages cannot be "
        "read (MessageVersionError)"
    ]


def test_a_removed_type_is_caught_unless_its_name_is_retired():
    committed = exported(declare(V1))
    assert breaking(check(committed, contract()))[0].startswith(
        "t.Planted v1: removed from the code, but stored history may still hold it"
    )
    assert check(committed, contract(), retire=["t.Planted"]) == []
    retired = registries.merge(committed, contract(), retire=["t.Planted"])
    assert retired.messages["t.Planted"].retired
    assert check(retired, contract()) == []


def test_a_retired_name_declared_again_is_a_reused_wire_name():
    committed = exported(declare(V1))
    retired = registries.merge(committed, contract(), retire=["t.Planted"])
    assert breaking(check(retired, contract(declare(V1)))) == [
        "t.Planted v1: wire name reused: it was retired (its old messages may still "
        "be stored) and is never declared again; choose a new name"
    ]


def test_a_wire_name_taken_by_another_app_is_caught():
    class Elsewhere(Event):
        plant_id: str
        colour: Literal["red", "green", "blue"]
        height: int

    committed = exported(declare(V1))
    found = breaking(check(committed, contract(declare(Elsewhere, module="garden.x"))))
    assert found == [
        "t.Planted v1: wire name reused: declared by events, now by garden; a wire "
        "name is never reused, choose a new one"
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"topic": "t.other"},
            "t.Planted v1: topic changed from t.plants to t.other: stored messages "
            "stay on t.plants, and subscriptions of t.other never see them",
        ),
        (
            {"key": "colour"},
            "t.Planted v1: key changed from plant_id to colour: one aggregate's "
            "messages would no longer share a partition, so their order is lost",
        ),
    ],
)
def test_a_new_topic_or_key_is_caught(change, expected):
    committed = exported(declare(V1))

    class Moved(Event):
        plant_id: str
        colour: Literal["red", "green", "blue"]
        height: int

    assert breaking(check(committed, contract(declare(Moved, **change)))) == [expected]


def test_a_nested_value_type_change_names_the_field_path():
    class Leaf(BaseModel):
        width: int

    class Tree(Event):
        plant_id: str
        leaves: tuple[Leaf, ...]

    class ThinLeaf(BaseModel):
        width: float
        vein: str

    class Pruned(Event):
        plant_id: str
        leaves: tuple[ThinLeaf, ...]

    committed = exported(declare(Tree))
    assert breaking(check(committed, contract(declare(Pruned)))) == [
        "t.Planted v1, field leaves[].vein: new required field without a default: "
        "stored messages lack it"
    ]
