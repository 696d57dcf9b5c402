from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from app.schemas import MAX_INT, Input

Color = Literal["yellow", "green", "blue", "pink", "purple"]
SearchMode = Literal["hybrid", "semantic", "keyword"]

MAX_QUOTE = 5_000
MAX_CONTEXT = 64
MAX_NOTE = 10_000


class HighlightCreate(Input):
    """A passage of the reader's text, as the W3C Web Annotation selectors describe one: the
    exact text with what comes just before and after it, and its offsets in the reader's
    text (the characters of its text nodes in order)."""

    quote: str = Field(min_length=1, max_length=MAX_QUOTE, description="The exact text.")
    prefix: str = Field(default="", max_length=MAX_CONTEXT, description="Text just before it.")
    suffix: str = Field(default="", max_length=MAX_CONTEXT, description="Text just after it.")
    start: int | None = Field(default=None, ge=0, le=MAX_INT, description="Offset of its start.")
    end: int | None = Field(default=None, ge=1, le=MAX_INT, description="Offset after its end.")
    color: Color = "yellow"
    note: str | None = Field(default=None, max_length=MAX_NOTE)

    @model_validator(mode="after")
    def _position(self) -> HighlightCreate:
        if not self.quote.strip():
            raise ValueError("quote must contain more than white space")
        if (self.start is None) != (self.end is None):
            raise ValueError("give both start and end, or neither")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class HighlightUpdate(Input):
    color: Color | None = None
    note: str | None = Field(
        default=None, max_length=MAX_NOTE, description="The note; an empty string removes it."
    )


class BookmarkRef(BaseModel):
    id: uuid.UUID
    title: str | None
    url: str


class HighlightOut(BaseModel):
    id: uuid.UUID
    bookmark_id: uuid.UUID
    quote: str
    prefix: str
    suffix: str
    start: int | None
    end: int | None
    color: Color
    note: str | None
    created_at: datetime
    updated_at: datetime


class HighlightList(BaseModel):
    items: list[HighlightOut]


class HighlightHit(HighlightOut):
    bookmark: BookmarkRef
    score: float | None = Field(
        default=None, description="How well it matches the query (only when searching)."
    )


class HighlightPage(BaseModel):
    items: list[HighlightHit]
    next_cursor: str | None
    total: int = Field(description="Highlights that match (all of yours without a query).")
