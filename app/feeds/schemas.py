from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from app.bookmarks.schemas import clean_tags
from app.schemas import Input

MIN_INTERVAL = 15
MAX_INTERVAL = 7 * 24 * 60


class FeedCreate(Input):
    url: str = Field(min_length=8, max_length=2048, description="The RSS or Atom feed's address.")
    tags: list[str] = Field(default_factory=list, description="Given to every item it saves.")
    interval_minutes: int = Field(default=60, ge=MIN_INTERVAL, le=MAX_INTERVAL)

    _tags = field_validator("tags")(classmethod(lambda cls, v: clean_tags(v) or []))


class FeedUpdate(Input):
    title: str | None = Field(default=None, max_length=300)
    tags: list[str] | None = None
    interval_minutes: int | None = Field(default=None, ge=MIN_INTERVAL, le=MAX_INTERVAL)
    active: bool | None = Field(default=None, description="false stops reading it.")

    _tags = field_validator("tags")(classmethod(lambda cls, v: clean_tags(v)))


class FeedOut(BaseModel):
    id: uuid.UUID
    url: str
    title: str | None
    site_url: str | None
    tags: list[str]
    interval_minutes: int
    active: bool
    last_status: str | None = Field(
        description="`ok`, `not_modified` (the feed said nothing changed) or `error`; null "
        "until it is first read."
    )
    last_error: str | None
    last_checked_at: datetime | None
    next_check_at: datetime
    items_saved: int
    created_at: datetime


class FeedList(BaseModel):
    items: list[FeedOut]


class OpmlImported(BaseModel):
    added: int = Field(description="Feeds subscribed to.")
    already: int = Field(description="Feeds you already follow.")
    invalid: int = Field(description="Outlines without a usable feed address.")
