"""app.wire.Writer: dicts written as their response model writes itself, or not at all."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, computed_field, field_serializer
from pydantic_core import PydanticSerializationError

from app.wire import Writer, template


class Inner(BaseModel):
    when: datetime
    kind: Literal["a", "b"] = "a"
    score: float = 0.5


class Outer(BaseModel):
    id: uuid.UUID
    name: str = Field(description="Documented, not renamed.")
    inner: Inner | None
    inners: list[Inner]
    counts: dict[str, int]
    note: str | None = None
    done: bool = False


def _values() -> tuple[dict, Outer]:  # type: ignore[type-arg]
    when = datetime(2024, 2, 29, 23, 59, 58, 500000, tzinfo=UTC)
    one = {**template(Inner), "when": when, "kind": "b"}
    two = {**template(Inner), "score": 2.0, "when": when}
    # Keys given in any order: the template keeps the model's.
    given = {"done": True, "counts": {"x": 1}, "inners": [one, two], "inner": None,
             "name": 'Zürich "q" \u2028', "id": uuid.UUID(int=7)}  # fmt: skip
    return {**template(Outer), **given}, Outer(**given)


def test_it_writes_the_models_bytes() -> None:
    plain, model = _values()
    assert Writer(Outer)(plain) == model.model_dump_json().encode()


def test_a_field_left_out_or_of_another_type_is_an_error() -> None:
    plain, _ = _values()
    missing = dict(plain)
    missing["id"] = template(Outer)["id"]  # the placeholder: never given
    with pytest.raises(PydanticSerializationError):
        Writer(Outer)(missing)
    wrong = {**plain, "counts": {"x": "one"}}
    with pytest.raises(PydanticSerializationError):
        Writer(Outer)(wrong)


def test_a_model_that_writes_itself_otherwise_is_refused() -> None:
    class Renamed(BaseModel):
        a: int = Field(serialization_alias="b")

    class Serialized(BaseModel):
        a: int

        @field_serializer("a")
        def _a(self, value: int) -> str:
            return str(value)

    class Computed(BaseModel):
        a: int

        @computed_field  # type: ignore[prop-decorator]
        @property
        def b(self) -> int:
            return self.a

    class Excluded(BaseModel):
        a: int = Field(exclude=True)

    class Holds(BaseModel):
        inner: list[Serialized]

    class Configured(BaseModel):
        model_config = ConfigDict(ser_json_timedelta="float")
        a: int

    for model in (Renamed, Serialized, Computed, Excluded, Holds, Configured):
        with pytest.raises(TypeError):
            Writer(model)


def test_a_template_is_shared_so_it_refuses_changes():
    blank = template(Outer)
    for change in (
        lambda: blank.__setitem__("id", 1),  # type: ignore[attr-defined]
        lambda: blank.update(id=1),  # type: ignore[attr-defined]
        lambda: blank.pop("id"),  # type: ignore[attr-defined]
        lambda: blank.setdefault("new", 1),  # type: ignore[attr-defined]
        lambda: blank.clear(),  # type: ignore[attr-defined]
    ):
        with pytest.raises(TypeError):
            change()
    assert list(blank) == list(Outer.model_fields)
    copy = {**blank, "id": 7}
    copy["more"] = 1  # a copy is a plain dict
    assert type(copy) is dict and blank["id"] is not copy["id"]
