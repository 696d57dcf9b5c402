from __future__ import annotations

import uuid

from pydantic import BaseModel, Field, field_validator

from app.bookmarks.schemas import clean_tags
from app.schemas import Input


def _name(value: str) -> str:
    names = clean_tags([value])
    if not names:
        raise ValueError("a tag needs a name")
    return names[0]


class TagCount(BaseModel):
    id: uuid.UUID
    name: str
    count: int = Field(description="Your bookmarks with this tag.")


class TagList(BaseModel):
    items: list[TagCount]


class TagRename(Input):
    name: str = Field(min_length=1, max_length=64, description="The new name; an existing "
                      "tag's name (in any case) merges this one into it.")  # fmt: skip

    _name = field_validator("name")(classmethod(lambda cls, v: _name(v)))


class TagMerge(Input):
    tags: list[uuid.UUID] = Field(min_length=1, max_length=500, description="The tags to merge.")
    into: str = Field(min_length=1, max_length=64, description="The tag they become (it is "
                      "made if it does not exist).")  # fmt: skip

    _into = field_validator("into")(classmethod(lambda cls, v: _name(v)))


class Removed(BaseModel):
    name: str
    bookmarks: list[uuid.UUID]


class Undo(Input):
    """What a merge or delete took away, to put it back (POST /api/tags/undo)."""

    removed: list[Removed] = Field(max_length=500)
    into: str | None = Field(default=None, max_length=64)
    added: list[uuid.UUID] = Field(
        default_factory=list, description="Bookmarks that got `into` from the merge alone."
    )
    created: bool = Field(default=False, description="Whether the merge made `into`.")


class Changed(BaseModel):
    """What a rename, merge or delete did, and how to undo it."""

    tag: TagCount | None = Field(description="The tag that remains (none after a delete).")
    bookmarks: int = Field(description="Bookmarks whose tags changed.")
    undo: Undo


class Suggestion(BaseModel):
    tags: list[TagCount] = Field(description="Tags that look like one: merge them?")
    into: str = Field(description="The name to keep: the most used one.")
    why: str = Field(description="same words | abbreviation | close in meaning")


class Suggestions(BaseModel):
    merge: list[Suggestion]
    once: list[TagCount] = Field(description="Tags on a single bookmark: often one-off typos.")
