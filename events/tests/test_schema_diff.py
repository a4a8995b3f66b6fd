"""Schema comparison (``events.schemas.jsondiff``): each kind of change to a message
model, as pydantic describes it, is named at its field and judged as breaking or not
for readers of stored messages."""

from decimal import Decimal
from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from events.schemas.jsondiff import Change, compare


def changes(old: type[BaseModel], new: type[BaseModel]) -> list[Change]:
    return compare(old.model_json_schema(), new.model_json_schema())


def breaking(old: type[BaseModel], new: type[BaseModel]) -> dict[str, str]:
    return {c.where: c.what for c in changes(old, new) if c.breaking}


class Line(BaseModel):
    model_config = ConfigDict(title="Line")
    sku: str
    quantity: int


class Placed(BaseModel):
    order_id: UUID
    customer_id: UUID
    lines: tuple[Line, ...]
    note: str | None = None


def test_an_identical_schema_has_no_changes():
    assert changes(Placed, Placed) == []


def test_a_removed_field_breaks_and_is_named():
    class Removed(BaseModel):
        order_id: UUID
        lines: tuple[Line, ...]
        note: str | None = None

    assert breaking(Placed, Removed) == {
        "customer_id": "field removed: stored messages carry it and consumers read "
        "it by name"
    }


def test_a_renamed_field_breaks_twice_with_a_hint():
    class Renamed(BaseModel):
        order_id: UUID
        buyer_id: UUID
        lines: tuple[Line, ...]
        note: str | None = None

    found = breaking(Placed, Renamed)
    assert found["customer_id"].startswith("field removed (renamed to buyer_id?)")
    assert found["buyer_id"].startswith("new required field without a default")


def test_a_changed_type_breaks():
    class Changed(BaseModel):
        order_id: str  # was a UUID: any text now passes, but consumers got UUIDs
        customer_id: int
        lines: tuple[Line, ...]
        note: str | None = None

    found = breaking(Placed, Changed)
    assert found == {"customer_id": "type changed from string (uuid) to integer"}
    # order_id only widened: "format 'uuid' dropped", compatible
    assert any(
        c.where == "order_id" and not c.breaking for c in changes(Placed, Changed)
    )


def test_a_narrowed_nested_field_is_named_by_its_path():
    class StrictLine(BaseModel):
        model_config = ConfigDict(title="Line")
        sku: str = Field(max_length=12)
        quantity: PositiveInt

    class Strict(BaseModel):
        order_id: UUID
        customer_id: UUID
        lines: tuple[StrictLine, ...]
        note: str | None = None

    assert breaking(Placed, Strict) == {
        "lines[].sku": "narrowed: maxLength now 12 (was none)",
        "lines[].quantity": "narrowed: value now > 0 (was none)",
    }


def test_a_new_required_field_breaks_and_a_new_optional_one_does_not():
    class More(Placed):
        channel: str
        gift: bool = False

    found = changes(Placed, More)
    assert [(c.where, c.breaking) for c in found] == [
        ("channel", True),
        ("gift", False),
    ]
    assert found[0].what.startswith("new required field without a default")


def test_a_field_losing_its_default_breaks():
    class Required(BaseModel):
        order_id: UUID
        customer_id: UUID
        lines: tuple[Line, ...]
        note: str | None

    assert breaking(Placed, Required) == {
        "note": "now required without a default: stored messages may lack it"
    }


def test_an_optional_field_and_a_wider_union_are_compatible():
    class Wider(BaseModel):
        order_id: UUID
        customer_id: UUID | None = None
        lines: tuple[Line, ...]
        note: str | int | None = None

    found = changes(Placed, Wider)
    assert found and not any(c.breaking for c in found)
    assert {c.where for c in found} == {"customer_id", "note"}


def test_a_removed_enum_value_breaks_and_an_added_one_does_not():
    class Old(BaseModel):
        status: Literal["placed", "paid", "shipped"]

    class Fewer(BaseModel):
        status: Literal["placed", "shipped"]

    class More(BaseModel):
        status: Literal["placed", "paid", "shipped", "returned"]

    assert breaking(Old, Fewer) == {"status": 'enum value removed: "paid"'}
    assert [(c.what, c.breaking) for c in changes(Old, More)] == [
        ('enum value added: "returned"', False)
    ]


def test_an_enum_class_losing_a_member_breaks():
    class Colour(StrEnum):
        RED = "red"
        GREEN = "green"

    class Hue(StrEnum):
        RED = "red"

    class Old(BaseModel):
        colour: Colour

    class New(BaseModel):
        colour: Hue

    assert breaking(Old, New) == {"colour": 'enum value removed: "green"'}


def test_a_decimal_becoming_an_integer_breaks():
    class Priced(BaseModel):
        price: Decimal

    class Whole(BaseModel):
        price: int

    found = breaking(Priced, Whole)
    assert found == {"price": "no longer accepts string (now integer)"}


def test_an_integer_becoming_a_number_is_compatible():
    class Count(BaseModel):
        n: int

    class Amount(BaseModel):
        n: float

    assert [(c.what, c.breaking) for c in changes(Count, Amount)] == [
        ("widened from integer to number", False)
    ]


def test_descriptions_alone_are_not_changes_of_shape():
    class Documented(BaseModel):
        """Now with a docstring."""

        order_id: UUID = Field(description="The order.")
        customer_id: UUID
        lines: tuple[Line, ...]
        note: str | None = None

    assert changes(Placed, Documented) == []
