from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from app.lists.models import MAX_NAME
from app.schemas import Input

MAX_IDS = 1000


def clean_name(value: str) -> str:
    name = " ".join(value.split())
    if not name:
        raise ValueError("a list needs a name")
    if len(name) > MAX_NAME:
        raise ValueError(f"a list's name is at most {MAX_NAME} characters")
    return name


class ListCreate(Input):
    name: str = Field(min_length=1, max_length=MAX_NAME * 2)
    parent_id: uuid.UUID | None = Field(
        default=None, description="The list to nest it in; none: a top-level list."
    )

    _name = field_validator("name")(classmethod(lambda cls, v: clean_name(v)))


class ListUpdate(Input):
    """Rename, move, or both. To move a list to the top level, send `"parent_id": null`;
    leave `parent_id` out to keep it where it is."""

    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME * 2)
    parent_id: uuid.UUID | None = Field(
        default=None, description="The new parent list; null: the top level."
    )

    _name = field_validator("name")(
        classmethod(lambda cls, v: None if v is None else clean_name(v))
    )


class ListOut(BaseModel):
    id: uuid.UUID
    name: str
    parent_id: uuid.UUID | None
    path: list[str] = Field(description="The names from the top-level list down to this one.")
    depth: int = Field(description="0 for a top-level list.")
    count: int = Field(description="Bookmarks in this list itself.")
    total: int = Field(description="Bookmarks in this list or any list under it, each once.")
    created_at: datetime


class ListTree(BaseModel):
    """Every list, in tree order: each parent before its sub-lists, siblings by name."""

    items: list[ListOut]


class BookmarkIds(Input):
    bookmark_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_IDS)


class Membership(BaseModel):
    changed: int = Field(description="How many bookmarks were added (or removed); those "
                         "already in (or not in) the list are not counted.")  # fmt: skip
    list: ListOut
