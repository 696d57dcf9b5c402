from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.schemas import Input

PairStatus = Literal["open", "dismissed"]


class DuplicatePage(BaseModel):
    id: uuid.UUID
    title: str | None
    url: str
    site_name: str | None
    word_count: int | None
    saved_at: datetime
    favorite: bool


class DuplicateOut(BaseModel):
    id: uuid.UUID
    bookmark: DuplicatePage = Field(description="The page saved later, which repeats the other.")
    original: DuplicatePage = Field(description="The page saved first.")
    score: float = Field(description="Share of the shorter text found in the other (0 to 1).")
    reason: str = Field(description='Why they are flagged, e.g. "same text 97%".')
    status: PairStatus
    created_at: datetime


class DuplicatePageList(BaseModel):
    items: list[DuplicateOut]
    next_cursor: str | None


class MergeIn(Input):
    keep: uuid.UUID = Field(description="The bookmark to keep: one of the pair's two.")


class MergeOut(BaseModel):
    kept: uuid.UUID
    removed: uuid.UUID


ScanState = Literal["idle", "queued", "running", "done", "failed"]


class ScanOut(BaseModel):
    state: ScanState
    checked: int = Field(description="Pages checked so far.")
    total: int = Field(description="Pages to check (the embedded ones).")
    found: int = Field(description="New pairs found by this scan.")
