"""Answers written as JSON straight from plain dicts, by a response model's own serializer.

A page of results is built from rows the database already holds to the response model's
types. Making a model of each (BookmarkOut(**row)) validates every field again before
model_dump_json writes it: 130 µs for a page of 20 bookmarks on the 2-core machine, where
Pydantic writes the same dicts in 50 µs through a TypeAdapter of a TypedDict with the model's
fields (bench/overheads.py).

`Writer(Model)` is that adapter, derived from the model: each field's annotation, with any
model in it replaced by its own TypedDict. The bytes are the model's
(tests/bookmarks/test_exact_json.py), as long as the model writes its fields as they are,
which the writer checks when it is made: a model with its own serializers, computed fields,
aliases, excluded fields or serialization settings is refused. Two rules for callers:

- a dict starts from `template(Model)`: the TypedDict writes the keys the dict holds, in its
  order, so the template has every field in the model's order, with its default or else a
  placeholder that cannot be written;
- a value of the wrong type (the placeholder too) is an error (`warnings="error"`), not a
  quiet misencoding.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter
from typing_extensions import TypedDict


class Writer:
    """Writes values shaped like `model` (dicts for its models) as its JSON."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model
        self._adapter: TypeAdapter[Any] = TypeAdapter(_plain(model))

    def __call__(self, value: dict[str, Any]) -> bytes:
        return self._adapter.dump_json(value, warnings="error")


class _Required:
    """A required field no one gave: the writer refuses it (it has no JSON form)."""


class _ReadOnly(dict[str, Any]):
    """A dict that refuses changes. Still a dict: `{**t, **values}` copies it at dict speed
    (0.6 µs for 35 fields, where a MappingProxyType's 2.5 µs made a page of 20 cost 35 µs
    more: bench/overheads.py)."""

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("a template is shared by every request: copy it, {**template, ...}")

    __setitem__ = __delitem__ = __ior__ = _refuse
    update = pop = popitem = clear = setdefault = _refuse


@functools.cache
def template(model: type[BaseModel]) -> Mapping[str, Any]:
    """Every field of the model, in its order: its default, or a placeholder to be replaced
    (`{**template(Model), **values}` keeps the template's order). Read-only: it is shared."""
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if field.default_factory is not None:
            raise TypeError(f"{model.__name__}.{name}: a default factory has no one default")
        out[name] = _Required() if field.is_required() else field.default
    return _ReadOnly(out)


# Model settings that change how a model writes itself, which a TypedDict would not follow.
_WRITING_SETTINGS = ("alias_generator", "serialize_by_alias", "use_enum_values")


@functools.cache
def _plain(model: type[BaseModel]) -> Any:
    """The TypedDict of `model`'s fields, each annotation with its models made TypedDicts."""
    decorators = model.__pydantic_decorators__
    settings = [k for k in model.model_config if k.startswith("ser_") or k in _WRITING_SETTINGS]
    if decorators.field_serializers or decorators.model_serializers or decorators.computed_fields:
        raise TypeError(f"{model.__name__} has serializers or computed fields of its own")
    if settings:
        raise TypeError(f"{model.__name__} sets how it is written: {', '.join(settings)}")
    fields: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if field.alias not in (None, name) or field.serialization_alias not in (None, name):
            raise TypeError(f"{model.__name__}.{name} is written under another name")
        if field.exclude:
            raise TypeError(f"{model.__name__}.{name} is not written")
        fields[name] = _replace_models(field.annotation)
    return TypedDict(f"{model.__name__}Plain", fields)  # type: ignore[operator]


def _replace_models(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _plain(annotation)
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is None or not args:
        return annotation
    if origin is Annotated:
        return Annotated[(_replace_models(args[0]), *annotation.__metadata__)]  # type: ignore[misc]
    if origin is typing.Literal:
        return annotation
    replaced = tuple(_replace_models(a) for a in args)
    if origin in (Union, types.UnionType):
        return Union[replaced]  # noqa: UP007 - built from a tuple
    return origin[replaced]
