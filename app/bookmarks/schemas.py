from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.analysis.schemas import AnalysisOut, AnalysisStatus
from app.schemas import MAX_INT, Input

Status = Literal["pending", "fetching", "extracting", "embedding", "ready", "failed"]
Sort = Literal[
    "saved_at", "-saved_at", "title", "-title", "quality", "-quality", "progress", "-progress"
]
# Which reading states a listing shows: the library (not archived, the default), the archive,
# or everything.
Shelf = Literal["library", "archive", "all"]


class BookmarkQuery(BaseModel):
    """GET /api/bookmarks' query parameters (app.params.QueryModel)."""

    q: str | None = Field(
        None, max_length=500, description="Words in the title, URL, description or notes."
    )
    tag: str | None = Field(None, max_length=64)
    url: str | None = Field(
        None,
        max_length=4096,
        description="Only the bookmark of this address, compared after normalisation "
        "(how the extension asks whether a page is already saved).",
    )
    status: Status | None = None
    shelf: Shelf | None = Field(
        None,
        description="`library` (not archived; the default), `archive`, or `all` (the "
        "default with `url`, which finds a saved page wherever it is).",
    )
    read: bool | None = Field(None, description="Only read (true) or unread (false).")
    favorite: bool | None = Field(None, description="Only favourites (true), or not.")
    list_: uuid.UUID | None = Field(
        None, alias="list", description="Only the bookmarks in this list (404 if not yours)."
    )
    sublists: bool = Field(False, description="With `list`: the bookmarks of its sub-lists too.")
    sort: Sort = "-saved_at"
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)


MAX_TAGS = 50
MAX_HTML_CHARS = 5_000_000


def clean_tags(tags: list[str] | None) -> list[str] | None:
    if tags is None:
        return None
    out: dict[str, str] = {}
    for tag in tags:
        name = " ".join(tag.split())
        if not name:
            continue
        if len(name) > 64:
            raise ValueError("a tag is at most 64 characters")
        out.setdefault(name.lower(), name)
    if len(out) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    return list(out.values())


class BookmarkCreate(Input):
    url: str = Field(min_length=1, max_length=4096)
    title: str | None = Field(default=None, max_length=1000)
    notes: str | None = Field(default=None, max_length=100_000)
    tags: list[str] | None = None
    html: str | None = Field(
        default=None,
        max_length=MAX_HTML_CHARS,
        description="The page as the browser extension captured it; then nothing is fetched.",
    )
    archived: bool = Field(
        default=False,
        description="Save it straight to the archive (kept and searchable, out of the library's "
        "default view) rather than to read later. Only for a new bookmark.",
    )
    favorite: bool = Field(
        default=False, description="Save it as a favourite. Only for a new bookmark."
    )

    _tags = field_validator("tags")(classmethod(lambda cls, v: clean_tags(v)))


class BookmarkUpdate(Input):
    title: str | None = Field(default=None, max_length=1000)
    notes: str | None = Field(default=None, max_length=100_000)
    tags: list[str] | None = None
    read: bool | None = Field(default=None, description="Mark it read (true) or unread (false).")
    favorite: bool | None = Field(default=None, description="Make it a favourite, or not.")
    archived: bool | None = Field(
        default=None,
        description="Archive it (out of the library's default view; still searched) or bring it "
        "back.",
    )
    version: int | None = Field(
        default=None,
        ge=1,
        le=MAX_INT,
        description="The version you edited; if the bookmark changed since, the answer is 409.",
    )

    _tags = field_validator("tags")(classmethod(lambda cls, v: clean_tags(v)))


class BookmarkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    url: str
    normalized_url: str
    title: str | None = Field(description="Your title, or the page's.")
    description: str | None
    notes: str | None
    tags: list[str]
    site_name: str | None
    author: str | None
    published_at: datetime | None
    language: str | None
    canonical_url: str | None
    image_url: str | None
    favicon_url: str | None
    word_count: int | None
    reading_time_minutes: int | None
    quality: int | None
    status: Status
    error_code: str | None
    error_message: str | None
    source: str
    version: int
    saved_at: datetime
    updated_at: datetime
    processed_at: datetime | None
    read_at: datetime | None = Field(description="When you read it; null while it is unread.")
    favorite: bool
    archived_at: datetime | None = Field(
        description="When you archived it; null while it is in the library's default view."
    )
    progress: float = Field(
        ge=0, le=1, description="How far you have read it in the reader (0 to 1)."
    )
    analysis_status: AnalysisStatus | None = Field(
        default=None,
        description="Gemini's analysis of the page (with your own key): `pending` (queued or "
        "retrying), `ready`, `skipped` (no Gemini key, or nothing to analyse) or `failed` "
        "(see `analysis_error`). Null where a listing did not load it.",
    )
    analysis_error: str | None = Field(
        default=None, description="Why the analysis was skipped, failed, or is retrying."
    )
    archive_status: Literal["ready", "failed", "skipped"] | None = Field(
        default=None,
        description="The newest archived copy's status (GET /api/bookmarks/{id}/archives): "
        "`ready`, `failed` or `skipped` (the archive storage limit was reached). Null when "
        "there is none yet, and outside the list and GET /api/bookmarks/{id}.",
    )
    thumbnail_status: Literal["ready", "none", "failed"] | None = Field(
        default=None,
        description="The card picture made from the page's image: `ready` (see "
        "`thumbnail_url`), `none` (the page has no image) or `failed` (it could not be fetched "
        "or read). Null until it is made, and outside the list and GET /api/bookmarks/{id}.",
    )
    thumbnail_url: str | None = Field(
        default=None,
        description="Where the card picture is (a small WebP; GET "
        "/api/bookmarks/{id}/thumbnail): a signed address an `<img>` can load, valid one to "
        "two days. Null without a picture.",
    )


class BookmarkDetail(BookmarkOut):
    text: str | None = Field(description="The extracted main text.")
    content_html: str | None = Field(
        default=None,
        description="The same main content with its structure (headings, paragraphs, lists, "
        "quotes, code blocks, tables, links, images) as an HTML fragment, sanitised by the "
        "server with an allow-list: no scripts, styles, event handlers, frames or forms; only "
        'http(s) and mailto links (rel="noopener noreferrer nofollow") and http(s) images, '
        "which load from the live site. Null when the content has no structure to show (use "
        "`text`), and for pages extracted before it existed until they are refreshed.",
    )
    content_hash: str | None
    metadata: dict[str, Any] | None
    list_ids: list[uuid.UUID] = Field(
        default_factory=list,
        description="The lists it is in (GET /api/lists names them), oldest membership first.",
    )
    analysis: AnalysisOut | None = Field(
        default=None,
        description="Summary, key concepts, content type, difficulty, technologies, topics and "
        "suggested tags, once analysed.",
    )


class ProgressIn(Input):
    progress: float = Field(
        ge=0, le=1, description="How far the page has been read: the share scrolled, 0 to 1."
    )


class ProgressOut(BaseModel):
    progress: float
    read_at: datetime | None = Field(
        description="Set when the progress reached the end (or earlier, by hand)."
    )


class BookmarkPage(BaseModel):
    items: list[BookmarkOut]
    next_cursor: str | None
