from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

ImportStatus = Literal["queued", "parsing", "processing", "done", "failed"]
Outcome = Literal["imported", "duplicate", "invalid"]
EntryFilter = Literal["imported", "duplicate", "invalid", "failed"]
ExportFormat = Literal["html", "json", "csv", "zip"]


class ImportEntryOut(BaseModel):
    position: int = Field(description="The entry's number in the file, from 1.")
    line: int | None = Field(description="Its line in the file, where the format has lines.")
    url: str | None
    title: str | None
    outcome: Outcome
    reason_code: str | None
    reason: str | None = Field(
        description="Why it was not imported, or why its page failed to process."
    )
    bookmark_id: uuid.UUID | None = Field(
        description="The bookmark it made (imported) or matched (duplicate)."
    )
    bookmark_status: str | None


class ImportEntryPage(BaseModel):
    items: list[ImportEntryOut]
    next_cursor: str | None


class ImportOut(BaseModel):
    id: uuid.UUID
    filename: str | None
    format: str
    format_name: str
    status: ImportStatus
    size_bytes: int
    total: int = Field(description="Entries in the file.")
    parsed: int = Field(description="Entries read and saved so far.")
    imported: int = Field(description="Entries that made a new bookmark.")
    duplicates: int = Field(description="Entries already in your library, or twice in the file.")
    invalid: int = Field(description="Entries that cannot be a bookmark (see their reasons).")
    pending: int = Field(description="Imported bookmarks still being fetched and indexed.")
    ready: int = Field(description="Imported bookmarks ready.")
    failed: int = Field(description="Invalid entries plus imported pages that failed to process.")
    processed: int = Field(description="Entries with a final outcome; equals total when done.")
    error_code: str | None
    error_message: str | None
    created_at: datetime
    started_at: datetime | None
    parsed_at: datetime | None
    finished_at: datetime | None


class ImportDetail(ImportOut):
    failed_entries: ImportEntryPage = Field(
        description="The first failed entries with their reasons; "
        "GET /api/imports/{id}/entries?outcome=failed pages through the rest."
    )


class ImportPage(BaseModel):
    items: list[ImportOut]
    next_cursor: str | None
