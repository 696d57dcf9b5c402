"""Saving, listing, editing and deleting bookmarks; every query is scoped to its user."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import ipaddress
import json
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from types import SimpleNamespace
from typing import Any, BinaryIO, NamedTuple
from urllib.parse import unquote, urlsplit

from sqlalchemy import (
    and_,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app import cursors
from app.analysis import service as analysis_service
from app.archives import store as archive_store
from app.bookmarks import pipeline
from app.bookmarks.models import PENDING, Bookmark, BookmarkTag, Tag
from app.bookmarks.schemas import BookmarkCreate, BookmarkUpdate, ProgressOut
from app.bookmarks.urls import InvalidUrl, is_upload, normalize_url, upload_urls
from app.config import Settings
from app.db import ReadPool, utcnow
from app.errors import (
    AppError,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    UnsupportedMediaType,
)
from app.extraction import documents
from app.extraction.fetch import address_block_reason
from app.users.models import User


def _normalize(url: str) -> str:
    try:
        return normalize_url(url)
    except InvalidUrl as exc:
        raise Unprocessable(str(exc), code="invalid_url") from exc


def _refuse_blocked_literal(normalized: str, allow_private: bool) -> None:
    """A literal internal address is refused at once; names are vetted (after DNS, at every
    redirect) when the worker fetches, since resolving here would slow every save."""
    host = (urlsplit(normalized).hostname or "").strip("[]")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return
    reason = address_block_reason(ip, allow_private)
    if reason is not None:
        raise Unprocessable(
            f"{host} is a {'cloud metadata' if reason == 'metadata' else 'private or reserved'} "
            "address; Fuze does not fetch those.",
            code="blocked_address",
        )


def bookmark_quota(settings: Settings, user: User) -> int:
    """The most bookmarks this user may have; 0 for no limit."""
    if user.bookmark_quota is not None:
        return user.bookmark_quota
    return settings.max_bookmarks_per_user


def quota_exceeded(quota: int) -> Forbidden:
    return Forbidden(
        f"Your library is full ({quota} bookmarks); delete some or ask an administrator.",
        code="quota_exceeded",
        details={"quota": quota},
    )


async def _room(session: AsyncSession, settings: Settings, user: User) -> int | None:
    """How many more bookmarks the user may save; None without a limit. With a limit it first
    takes the user's quota lock, held until the transaction ends, so that concurrent saves
    count one after another and cannot pass the limit together. It is the first lock a save
    takes (before any bookmark or tag row), so it orders saves without new deadlocks."""
    quota = bookmark_quota(settings, user)
    if not quota:
        return None
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended('fuze:quota:' || :user_id, 0))"),
        {"user_id": str(user.id)},
    )
    count = await session.scalar(
        select(func.count()).select_from(Bookmark).where(Bookmark.user_id == user.id)
    )
    return max(0, quota - (count or 0))


async def _saved_urls(session: AsyncSession, user: User, normalized: list[str]) -> set[str]:
    rows = await session.scalars(
        select(Bookmark.normalized_url).where(
            Bookmark.user_id == user.id, Bookmark.normalized_url.in_(normalized)
        )
    )
    return set(rows)


# Lock order for every write of a user's bookmarks, here and in the worker: the user's quota
# lock (with a quota, _room), the tags (created in order of their lower-cased names), then
# the bookmark's row, then (by the triggers) the user's search statistics and terms, and the
# data version at commit. Two transactions that take their locks in one order wait for each
# other but never deadlock.


async def _ensure_tags(
    session: AsyncSession, user_id: uuid.UUID, names: list[str]
) -> list[tuple[uuid.UUID, str]]:
    """(id, name as stored) of each tag, creating the missing ones in a fixed order (two
    saves creating "b" and "a" in opposite orders would each wait for the other's)."""
    if not names:
        return []
    by_lower = {n.lower(): n for n in reversed(names)}  # the first spelling wins
    ordered = [by_lower[k] for k in sorted(by_lower)]
    await session.execute(
        insert(Tag)
        .values([{"id": uuid.uuid4(), "user_id": user_id, "name": n} for n in ordered])
        .on_conflict_do_nothing()
    )
    rows = await session.execute(
        select(Tag.id, Tag.name).where(Tag.user_id == user_id, func.lower(Tag.name).in_(by_lower))
    )
    return [(tag_id, name) for tag_id, name in rows]


async def _link_tags(
    session: AsyncSession, bookmark_id: uuid.UUID, tags: list[tuple[uuid.UUID, str]]
) -> None:
    if tags:
        await session.execute(
            insert(BookmarkTag)
            .values([{"bookmark_id": bookmark_id, "tag_id": t} for t, _ in tags])
            .on_conflict_do_nothing()
        )


async def _set_tags(
    session: AsyncSession, bookmark_id: uuid.UUID, tags: list[tuple[uuid.UUID, str]]
) -> None:
    await session.execute(
        delete(BookmarkTag).where(
            BookmarkTag.bookmark_id == bookmark_id,
            BookmarkTag.tag_id.not_in([t for t, _ in tags] or [uuid.uuid4()]),
        )
    )
    await _link_tags(session, bookmark_id, tags)


async def tags_of(
    session: AsyncSession, bookmark_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    out: dict[uuid.UUID, list[str]] = defaultdict(list)
    if not bookmark_ids:
        return out
    rows = await session.execute(
        select(BookmarkTag.bookmark_id, Tag.name)
        .join(Tag, Tag.id == BookmarkTag.tag_id)
        .where(BookmarkTag.bookmark_id.in_(bookmark_ids))
        .order_by(func.lower(Tag.name))
    )
    for bookmark_id, name in rows:
        out[bookmark_id].append(name)
    return out


async def create(
    session: AsyncSession, settings: Settings, user: User, data: BookmarkCreate
) -> tuple[Bookmark, bool]:
    """(bookmark, created). The same URL again, after normalisation, returns the existing one
    (with any new tags added); concurrent saves of one URL make one bookmark."""
    normalized = _normalize(data.url)
    if data.html is None:  # captured pages are never fetched
        _refuse_blocked_literal(normalized, settings.allow_private_networks)
    return await _save(
        session,
        settings,
        user,
        url=data.url.strip(),
        normalized=normalized,
        title=data.title,
        notes=data.notes,
        tag_names=data.tags or [],
        html=data.html,
        source="extension" if data.html is not None else "web",
        archived=data.archived,
        favorite=data.favorite,
    )


# A save's insert, built once: its values go as parameters (building the statement with
# them, its cache key and coercions cost a fifth of a save's CPU in the API). A URL already
# saved inserts nothing; the new row comes back as the session's object, with what the
# database filled in (defaults, the search vector's inputs): no second statement to load it.
_INSERT = (
    insert(Bookmark)
    .on_conflict_do_nothing(index_elements=["user_id", "normalized_url"])
    .returning(Bookmark)
)


async def _save(
    session: AsyncSession,
    settings: Settings,
    user: User,
    *,
    url: str,
    normalized: str,
    title: str | None,
    notes: str | None,
    tag_names: list[str],
    html: str | None = None,
    source: str,
    archived: bool = False,
    favorite: bool = False,
    before_start: Callable[[uuid.UUID], Awaitable[None]] | None = None,
) -> tuple[Bookmark, bool]:
    """create()'s insert, for a page or an uploaded file; `before_start` runs for a new
    bookmark before its first stage is queued (an upload keeps its file there)."""
    if await _room(session, settings, user) == 0 and not await _saved_urls(
        session, user, [normalized]
    ):
        raise quota_exceeded(bookmark_quota(settings, user))
    tags = await _ensure_tags(session, user.id, tag_names)
    new_id = uuid.uuid4()
    now = utcnow()
    inserted = await session.scalar(
        _INSERT,
        {
            "id": new_id,
            "user_id": user.id,
            "url": url,
            "normalized_url": normalized,
            "title": title.strip() if title and title.strip() else None,
            "notes": notes,
            "html": html,
            "html_captured": html is not None,
            "source": source,
            "status": PENDING,
            "saved_at": now,
            "updated_at": now,
            "status_changed_at": now,
            "archived_at": now if archived else None,
            "favorite": favorite,
            # What the bookmark_tags trigger will write: given at once, the links below find
            # the text unchanged, and the search vector is computed once, not twice.
            "tags_text": " ".join(sorted(name for _, name in tags)) or None,
        },
    )
    if inserted is None:
        query = select(Bookmark).where(
            Bookmark.user_id == user.id, Bookmark.normalized_url == normalized
        )
        existing = await session.scalar(query.with_for_update(key_share=True) if tags else query)
        assert existing is not None
        await _link_tags(session, existing.id, tags)
        await with_analysis(session, [existing])
        return existing, False
    bookmark: Bookmark = inserted
    await _link_tags(session, new_id, tags)
    if before_start is not None:
        await before_start(new_id)
    pipeline.start(session, bookmark)
    return bookmark, True


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB"


async def upload(
    session: AsyncSession,
    settings: Settings,
    user: User,
    file: BinaryIO,
    filename: str | None,
    *,
    tags: list[str],
    notes: str | None,
) -> tuple[Bookmark, bool]:
    """Save an uploaded PDF, Markdown or text file: (bookmark, created). The file is kept as
    the bookmark's archive and read by the worker (nothing is fetched); the same file again,
    under any name, returns the bookmark it already is."""
    size = file.seek(0, 2)
    file.seek(0)
    if size > settings.pdf_max_bytes:
        raise PayloadTooLarge(
            f"This file is {_mb(size)}; files are limited to {_mb(settings.pdf_max_bytes)}.",
            code="file_too_large",
            details={"size_bytes": size, "limit_bytes": settings.pdf_max_bytes},
        )
    if size == 0:
        raise Unprocessable("The file is empty.", code="empty_file")
    data = await asyncio.to_thread(file.read)
    kind = documents.kind_of(data, filename)
    if kind is None:
        raise UnsupportedMediaType(
            "Fuze reads PDF, Markdown (.md) and plain text (.txt) files; this file is none of "
            "them (a text file must be UTF-8).",
            code="unsupported_file",
        )
    suffix = documents.KINDS[kind][1]
    name = PurePosixPath((filename or "").replace("\\", "/")).name.strip() or f"file{suffix}"
    url, normalized = upload_urls(hashlib.sha256(data).hexdigest(), name)

    async def keep_file(bookmark_id: uuid.UUID) -> None:
        await asyncio.to_thread(
            documents.write_archive, settings.data_dir, user.id, bookmark_id, kind, data
        )

    return await _save(
        session,
        settings,
        user,
        url=url,
        normalized=normalized,
        title=None,
        notes=notes,
        tag_names=tags,
        source="upload",
        before_start=keep_file,
    )


def kept_file(settings: Settings, bookmark: Bookmark) -> tuple[Path, str]:
    """(path, media type) of the bookmark's kept file, or 404."""
    found = documents.find_archive(settings.data_dir, bookmark.user_id, bookmark.id)
    if found is None:
        raise NotFound("This bookmark has no kept file.", code="file_not_found")
    path, kind = found
    return path, documents.KINDS[kind][0]


def download_name(bookmark: Bookmark, path: Path) -> str:
    """The file's name for a download: the uploaded name, else the title or the link's."""
    if is_upload(bookmark.url):
        name = unquote(bookmark.url.rsplit("/", 1)[-1])
    else:
        name = bookmark.title or bookmark.page_title or urlsplit(bookmark.url).path.rsplit("/")[-1]
    stem = "".join(c if c.isalnum() or c in " ._-" else "_" for c in name).strip(" .")[:120]
    stem = stem or "file"
    return stem if stem.lower().endswith(path.suffix) else f"{stem}{path.suffix}"


async def get_owned(session: AsyncSession, user: User, bookmark_id: uuid.UUID) -> Bookmark:
    """The user's bookmark, or 404 exactly as for an id that does not exist."""
    query = select(Bookmark).where(Bookmark.id == bookmark_id, Bookmark.user_id == user.id)
    bookmark = await session.scalar(query)
    if bookmark is None:
        raise NotFound("No such bookmark.", code="bookmark_not_found")
    return bookmark


_ANALYSIS = "_fuze_analysis"  # where with_analysis() leaves a bookmark's analysis for to_out()


async def with_analysis(session: AsyncSession, bookmarks: list[Bookmark]) -> None:
    """Load these bookmarks' analyses, so to_out() shows `analysis_status` (and, in detail,
    the analysis)."""
    rows = await analysis_service.analyses_of(session, [b.id for b in bookmarks])
    for bookmark in bookmarks:
        setattr(bookmark, _ANALYSIS, rows.get(bookmark.id))


# Each sort's key as SQL over `b` (bookmarks), the type its cursor value is checked
# against, and whether it runs newest/highest first.
_SORTS: dict[str, tuple[str, type | tuple[type, ...], bool]] = {
    "saved_at": ("b.saved_at", datetime, False),
    "-saved_at": ("b.saved_at", datetime, True),
    "title": ("lower(coalesce(b.title, b.page_title, b.url))", str, False),
    "-title": ("lower(coalesce(b.title, b.page_title, b.url))", str, True),
    "quality": ("coalesce(b.quality, -1)", int, False),
    "-quality": ("coalesce(b.quality, -1)", int, True),
    "progress": ("b.progress", (int, float), False),
    "-progress": ("b.progress", (int, float), True),
}
_CURSOR_TYPES = {datetime: "timestamptz", str: "text", int: "int", (int, float): "float8"}


async def list_page(
    reads: ReadPool,
    user_id: uuid.UUID,
    *,
    q: str | None = None,
    tag: str | None = None,
    url: str | None = None,
    status: str | None = None,
    shelf: str = "library",
    read: bool | None = None,
    favorite: bool | None = None,
    list_ids: list[uuid.UUID] | None = None,
    sort: str = "-saved_at",
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Card], str | None]:
    """One page of the user's library, filtered and sorted, in one statement through the
    read pool: the page's ids, what outs_of() reads of each, its newest archived copy's
    status and its card picture's state. Each filter adds its condition and parameter; the
    statements of the few shapes there are stay prepared on the pool's connections."""
    key, kind, descending = _SORTS[sort]
    args: list[Any] = [user_id]

    def arg(value: Any, cast: str = "") -> str:
        args.append(value)
        return f"${len(args)}{cast}"

    where = ["b.user_id = $1"]
    if shelf != "all":
        where.append(f"b.archived_at IS {'NOT ' if shelf == 'archive' else ''}NULL")
    if read is not None:
        where.append(f"b.read_at IS {'NOT ' if read else ''}NULL")
    if favorite is not None:
        where.append(f"b.favorite = {arg(favorite)}")
    if url is not None:
        where.append(f"b.normalized_url = {arg(_normalize(url))}")
    if status:
        where.append(f"b.status = {arg(status)}")
    if list_ids is not None:
        where.append(
            "b.id IN (SELECT li.bookmark_id FROM bookmark_lists li"
            f" WHERE li.list_id = ANY({arg(list_ids, '::uuid[]')}))"
        )
    if tag:
        where.append(
            "b.id IN (SELECT bt.bookmark_id FROM bookmark_tags bt JOIN tags t ON t.id = bt.tag_id"
            f" WHERE t.user_id = $1 AND lower(t.name) = {arg(tag.strip().lower())})"
        )
    if q and q.strip():
        pattern = arg(
            "%" + q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        where.append(
            "(" + " OR ".join(
                f"b.{column} ILIKE {pattern}"
                for column in ("title", "page_title", "url", "description", "notes")
            ) + ")"
        )  # fmt: skip
    if cursor:
        value, after_id = cursors.decode_keyset(cursor)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise Unprocessable("This cursor belongs to another sort order.", code="invalid_cursor")
        after = f"({arg(value, '::' + _CURSOR_TYPES[kind])}, {arg(after_id, '::uuid')})"
        where.append(f"({key}, b.id) {'<' if descending else '>'} {after}")
    order = "DESC" if descending else "ASC"
    sql = f"""
    WITH page AS (
        SELECT b.id, {key} AS sort_value FROM bookmarks b
        WHERE {" AND ".join(where)}
        ORDER BY {key} {order}, b.id {order} LIMIT {arg(limit + 1)}
    ),
    {outs_sql(len(args) + 1, "page", "page.sort_value, ", snippets=False, cards=True)}
    ORDER BY page.sort_value {order}, page.id {order}
    """
    # The library's own pages (no filter that narrows them) read the same rows the same way
    # for every user: a generic plan. A filter's best plan depends on how many rows it keeps.
    narrowed = bool(q and q.strip()) or any(
        f is not None for f in (read, favorite, url, status, list_ids, tag)
    )
    rows = await reads.fetch(sql, *args, user=user_id, generic=not narrowed)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = cursors.encode_keyset(rows[-1][0], rows[-1][1])
    return [card_of_row(row, 1) for row in rows], next_cursor


async def update_bookmark(
    session: AsyncSession, user: User, bookmark: Bookmark, data: BookmarkUpdate
) -> Bookmark:
    fields = data.model_fields_set
    values: dict[str, Any] = {}
    if "title" in fields:
        values["title"] = data.title.strip() if data.title and data.title.strip() else None
    if "notes" in fields:
        values["notes"] = data.notes
    # A state set again keeps its first date (marking a read page read does not move it).
    if data.read is not None:
        values["read_at"] = func.coalesce(Bookmark.read_at, func.now()) if data.read else None
    if data.favorite is not None:
        values["favorite"] = data.favorite
    if data.archived is not None:
        values["archived_at"] = (
            func.coalesce(Bookmark.archived_at, func.now()) if data.archived else None
        )
    tags = await _ensure_tags(session, user.id, data.tags) if data.tags is not None else None
    conditions = [Bookmark.id == bookmark.id, Bookmark.user_id == user.id]
    if data.version is not None:
        conditions.append(Bookmark.version == data.version)
    # One conditional UPDATE: two concurrent edits of the same version cannot both win.
    result = await session.execute(
        update(Bookmark)
        .where(and_(*conditions))
        .values(**values, version=Bookmark.version + 1, updated_at=utcnow())
        .returning(Bookmark.version)
        .execution_options(synchronize_session=False)
    )
    if result.scalar() is None:
        raise Conflict(
            "This bookmark was changed since you loaded it; reload and edit again.",
            code="edit_conflict",
        )
    if tags is not None:
        await _set_tags(session, bookmark.id, tags)
    await session.refresh(bookmark)
    return bookmark


# How far counts as the end of a page: the last lines of a page (its footer, a short last
# paragraph) may never reach the top of the screen.
READ_AT_PROGRESS = 0.97


async def set_progress(
    session: AsyncSession, user: User, bookmark: Bookmark, progress: float
) -> ProgressOut:
    """Keep how far the page has been read; reaching the end marks it read. Neither its
    version (an edit open elsewhere stays valid) nor its `updated_at` moves, and the user's
    cached recommendations are kept (the data-version trigger skips progress updates)."""
    reached = progress >= READ_AT_PROGRESS
    row = (
        await session.execute(
            update(Bookmark)
            .where(Bookmark.id == bookmark.id, Bookmark.user_id == user.id)
            .values(
                progress=progress,
                read_at=func.coalesce(Bookmark.read_at, func.now())
                if reached
                else Bookmark.read_at,
            )
            .returning(Bookmark.progress, Bookmark.read_at)
            .execution_options(synchronize_session=False)
        )
    ).one()
    return ProgressOut(progress=row[0], read_at=row[1])


async def delete_bookmark(session: AsyncSession, settings: Settings, bookmark: Bookmark) -> None:
    await session.delete(bookmark)
    await session.flush()
    # Its kept file goes with it (once the row is gone, nothing could serve it anyway).
    await asyncio.to_thread(
        documents.remove_archives, settings.data_dir, bookmark.user_id, bookmark.id
    )
    await asyncio.to_thread(
        archive_store.remove_all, settings.data_dir, bookmark.user_id, bookmark.id
    )


async def refresh(session: AsyncSession, bookmark: Bookmark) -> Bookmark:
    bookmark.run += 1
    bookmark.attempts = 0
    pipeline.set_status(bookmark, PENDING)
    pipeline.start(session, bookmark)
    await session.flush()
    return bookmark


def to_out(bookmark: Bookmark, tags: list[str], *, detail: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": bookmark.id,
        "url": bookmark.url,
        "normalized_url": bookmark.normalized_url,
        "title": bookmark.title or bookmark.page_title,
        "description": bookmark.description,
        "notes": bookmark.notes,
        "tags": tags,
        "site_name": bookmark.site_name,
        "author": bookmark.author,
        "published_at": bookmark.published_at,
        "language": bookmark.language,
        "canonical_url": bookmark.canonical_url,
        "image_url": bookmark.image_url,
        "favicon_url": bookmark.favicon_url,
        "word_count": bookmark.word_count,
        "reading_time_minutes": bookmark.reading_time_minutes,
        "quality": bookmark.quality,
        "status": bookmark.status,
        "error_code": bookmark.error_code,
        "error_message": bookmark.error_message,
        "source": bookmark.source,
        "version": bookmark.version,
        "saved_at": bookmark.saved_at,
        "updated_at": bookmark.updated_at,
        "processed_at": bookmark.processed_at,
        "read_at": bookmark.read_at,
        "favorite": bookmark.favorite,
        "archived_at": bookmark.archived_at,
        "progress": bookmark.progress,
    }
    if detail:
        out.update(
            text=bookmark.text,
            content_html=bookmark.content_html,
            content_hash=bookmark.content_hash,
            metadata=bookmark.page_metadata,
        )
    if hasattr(bookmark, _ANALYSIS) or bookmark.status != "ready":
        row = getattr(bookmark, _ANALYSIS, None)
        status, _, message = analysis_service.state_of(bookmark, row)
        out.update(analysis_status=status, analysis_error=message)
        if detail:
            out["analysis"] = analysis_service.analysis_out(bookmark, row)
    return out


# What to_out() reads of a bookmark (and `run`, which the analysis status compares).
_OUT_FIELDS = (
    "id", "url", "normalized_url", "title", "page_title", "description", "notes", "site_name",
    "author", "published_at", "language", "canonical_url", "image_url", "favicon_url",
    "word_count", "reading_time_minutes", "quality", "status", "error_code", "error_message",
    "source", "version", "saved_at", "updated_at", "processed_at", "run", "read_at", "favorite",
    "archived_at", "progress",
)  # fmt: skip
# What a bookmark's page shows of its analysis beyond its state (analysis_service.analysis_out).
_ANALYSIS_FIELDS = (
    "summary", "key_concepts", "content_type", "difficulty", "technologies", "topics",
    "suggested_tags", "model", "analysed_at",
)  # fmt: skip


@functools.cache  # pure; the list builds it on every request
def outs_sql(
    first: int = 1,
    page: str | None = None,
    extra: str = "",
    *,
    snippets: bool = True,
    cards: bool = False,
    detail: bool = False,
) -> str:
    """outs_of()'s statement, after the WITH keyword, its parameters numbered from `first`:
    the ids, then the highlight's (highlight_args). With `page`, the name of a relation
    (id, ...) in the caller's earlier CTEs, it reads that relation's pages instead of an ids
    parameter (the highlight's parameters come first then), and `extra` names more columns
    ahead of the page's own (`page.score, `). Without `snippets` (a listing, which shows
    none) it takes no highlight parameters and reads no text: lead and headline are null.
    With `cards`, three columns follow: the newest archived copy's status, and the card
    picture's status and hash (card_of_row). With `detail` (and `cards`), what one
    bookmark's page shows follows: its text and reader HTML, the whole analysis, its lists
    and its newest ready archived copy (detail_of)."""
    names = [f"${first + i}" for i in range((0 if page else 1) + (4 if snippets else 0))]
    source = (
        f"JOIN {page} ON {page}.id = b.id" if page else f"WHERE b.id = ANY({names.pop(0)}::uuid[])"
    )
    if snippets:
        query, websearch, options, chars = names
        tsq = f"""CASE WHEN {query}::text IS NULL THEN NULL
                    WHEN {websearch} THEN websearch_to_tsquery('english', {query})
                    ELSE to_tsquery('english', {query}) END"""
        shown = f"""left(b.text, 300) AS lead,
           CASE WHEN b.search_vector @@ q.tsq THEN ts_headline(
               'english', left(coalesce(b.text, b.description, ''), {chars}), q.tsq, {options}
           ) END AS headline,
           coalesce(b.search_vector @@ q.tsq, false) AS matched"""
    else:
        tsq, shown = "NULL::tsquery", "NULL AS lead, NULL AS headline, false AS matched"
    card = (
        """,
           (SELECT pa.status FROM page_archives pa WHERE pa.bookmark_id = b.id
            ORDER BY pa.created_at DESC LIMIT 1) AS archive_status,
           th.status AS thumbnail_status, th.etag AS thumbnail_etag"""
        if cards
        else ""
    )
    if detail:
        card += f""",
           b.text, b.content_html, b.content_hash, b.metadata::text,
           {", ".join(f"a.{f}" for f in _ANALYSIS_FIELDS)},
           coalesce((SELECT array_agg(li.list_id ORDER BY li.added_at, li.list_id)
                     FROM bookmark_lists li WHERE li.bookmark_id = b.id), '{{}}') AS list_ids,
           (SELECT pa.id FROM page_archives pa WHERE pa.bookmark_id = b.id AND pa.status = 'ready'
            ORDER BY pa.created_at DESC LIMIT 1) AS ready_archive"""
    return f"""
    q AS (SELECT {tsq} AS tsq)
    SELECT {extra}{", ".join(f"b.{Bookmark.__mapper__.columns[f].name}" for f in _OUT_FIELDS)},
           (SELECT array_agg(t.name ORDER BY lower(t.name))
            FROM bookmark_tags bt JOIN tags t ON t.id = bt.tag_id
            WHERE bt.bookmark_id = b.id) AS tags,
           a.run, a.status, a.error_code, a.error_message,
           {shown}{card}
    FROM bookmarks b CROSS JOIN q
    LEFT JOIN content_analysis a ON a.bookmark_id = b.id
    {"LEFT JOIN thumbnails th ON th.bookmark_id = b.id" if cards else ""}
    {source}
"""


_OUTS_SQL = "WITH " + outs_sql()
_DETAIL_SQL = "WITH page AS (SELECT $1::uuid AS id), " + outs_sql(
    2, "page", snippets=False, cards=True, detail=True
)

Out = tuple[dict[str, Any], tuple[str | None, str | None, bool]]


class Highlight(NamedTuple):
    """What outs_of() reads for a result's highlights: the text of a tsquery (websearch
    syntax or to_tsquery's), and ts_headline's options."""

    query: str
    websearch: bool
    options: str
    # The first 5,000 characters hold the snippets people read, and keep ts_headline (it
    # re-parses the text, the costliest part of hydrating a page of results) short.
    max_chars: int = 5_000


def highlight_args(highlight: Highlight | None) -> tuple[str | None, bool, str, int]:
    """outs_sql()'s parameters after the ids, for this highlight (or none)."""
    h = highlight
    return (h.query, h.websearch, h.options, h.max_chars) if h else (None, False, "", 0)


async def outs_of(
    reads: ReadPool,
    user_id: uuid.UUID,
    ids: list[uuid.UUID],
    highlight: Highlight | None = None,
) -> dict[uuid.UUID, Out]:
    """{id: (to_out() with tags and analysis status, (how the text begins, the ts_headline
    of a page that has the words, whether it has them))} for these bookmarks, in one
    statement through the read pool, without loading them as objects: what lists of search
    results and recommendations show. The caller has checked that the ids are the user's."""
    if not ids:
        return {}
    rows = await reads.fetch(_OUTS_SQL, ids, *highlight_args(highlight), user=user_id, generic=True)
    return {out[0]["id"]: out for out in map(out_of_row, rows)}


def _bookmark_of_row(row: Any, start: int, detail: bool = False) -> SimpleNamespace:
    """The bookmark of a row of outs_sql() (its columns from `start` on) as to_out() reads
    it, its analysis (if any) attached."""
    n = start + len(_OUT_FIELDS)
    bookmark = SimpleNamespace(**{f: row[start + i] for i, f in enumerate(_OUT_FIELDS)})
    a_run, a_status, a_code, a_message = (row[n + i] for i in range(1, 5))
    analysis = (
        None
        if a_status is None
        else SimpleNamespace(run=a_run, status=a_status, error_code=a_code, error_message=a_message)
    )
    if detail:  # after the snippets' three columns and the card's three
        d = n + 11
        bookmark.text, bookmark.content_html, bookmark.content_hash = row[d], row[d + 1], row[d + 2]
        bookmark.page_metadata = None if row[d + 3] is None else json.loads(row[d + 3])
        if analysis is not None:
            for i, field in enumerate(_ANALYSIS_FIELDS):
                setattr(analysis, field, row[d + 4 + i])
    setattr(bookmark, _ANALYSIS, analysis)
    return bookmark


def out_of_row(row: Any, start: int = 0) -> Out:
    """One row of outs_sql() (its columns from `start` on) as outs_of() gives it."""
    n = start + len(_OUT_FIELDS)
    out = to_out(_bookmark_of_row(row, start), list(row[n] or []))  # type: ignore[arg-type]
    return out, (row[n + 5], row[n + 6], bool(row[n + 7]))


class Card(NamedTuple):
    """A listed bookmark: to_out() with tags and analysis status, its newest archived copy's
    status, and its card picture's (status, hash) when it has one (thumbnails.fields)."""

    out: dict[str, Any]
    archive_status: str | None
    picture: tuple[str, str | None] | None


def card_of_row(row: Any, start: int = 0, detail: bool = False) -> Card:
    """One row of outs_sql(cards=True) (its columns from `start` on)."""
    n = start + len(_OUT_FIELDS)
    bookmark = _bookmark_of_row(row, start, detail)
    out = to_out(bookmark, list(row[n] or []), detail=detail)  # type: ignore[arg-type]
    picture = None if row[n + 9] is None else (row[n + 9], row[n + 10])
    return Card(out, row[n + 8], picture)


class Detail(NamedTuple):
    """One bookmark as its page shows it: its card with to_out(detail=True) and `list_ids`,
    and its newest ready archived copy, whose images the reader HTML may be served from."""

    card: Card
    ready_archive: uuid.UUID | None


async def detail_of(fetch: Callable[..., Awaitable[list[Any]]], bookmark_id: uuid.UUID) -> Detail:
    """One bookmark of the user's, in one statement, run by `fetch(sql, *args)`: the read
    pool's (ReadPool.fetch for the user) or, to see what a transaction just wrote, the
    session's (db.session_fetch). NotFound when it is not the user's."""
    rows = await fetch(_DETAIL_SQL, bookmark_id)
    if not rows:
        raise NotFound("No such bookmark.", code="bookmark_not_found")
    card = card_of_row(rows[0], detail=True)
    end = len(_OUT_FIELDS) + 15 + len(_ANALYSIS_FIELDS)
    card.out["list_ids"] = list(rows[0][end])
    return Detail(card, rows[0][end + 1])


@dataclass(slots=True)
class BulkItem:
    data: BookmarkCreate
    saved_at: datetime | None = None  # when it was first saved elsewhere (an import)
    # Reading states an import brings (data.archived / data.favorite say the rest).
    read_at: datetime | None = None
    archived_at: datetime | None = None
    progress: float = 0.0  # how far it was read there (0 to 1)


@dataclass(slots=True)
class BulkResult:
    bookmark_id: uuid.UUID | None
    created: bool
    error: AppError | None = None


async def create_many(
    session: AsyncSession,
    settings: Settings,
    user: User,
    items: list[BulkItem],
    *,
    source: str = "import",
    queue_name: str | None = None,
) -> list[BulkResult]:
    """`create` for many pages in a few statements, with the same rules: the same URL after
    normalisation is one bookmark (an existing one, or the first of the list, gets the tags of
    the others), literal internal addresses are refused. Pages are never captured here. The
    first pipeline stage of each new bookmark is queued (on `queue_name`) after the commit.
    New pages past the user's bookmark quota get a `quota_exceeded` error each.
    Keep the list to a few hundred items (one INSERT carries them all)."""
    results: list[BulkResult | None] = [None] * len(items)
    normalized_of: list[str | None] = [None] * len(items)
    tags_for: dict[str, dict[str, str]] = {}
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    now = utcnow()
    for i, item in enumerate(items):
        try:
            normalized = _normalize(item.data.url)
            _refuse_blocked_literal(normalized, settings.allow_private_networks)
        except Unprocessable as exc:
            results[i] = BulkResult(None, False, exc)
            continue
        normalized_of[i] = normalized
        names = tags_for.setdefault(normalized, {})
        for name in item.data.tags or ():
            names.setdefault(name.lower(), name)
        if normalized in seen:
            continue
        seen.add(normalized)
        rows.append(
            {
                "id": uuid.uuid4(),
                "user_id": user.id,
                "url": item.data.url.strip(),
                "normalized_url": normalized,
                "title": item.data.title.strip()
                if item.data.title and item.data.title.strip()
                else None,
                "notes": item.data.notes,
                "html_captured": False,
                "source": source,
                "status": PENDING,
                "saved_at": item.saved_at or now,
                "updated_at": now,
                "status_changed_at": now,
                "read_at": item.read_at,
                "favorite": item.data.favorite,
                "archived_at": item.archived_at or (now if item.data.archived else None),
                "progress": item.progress,
            }
        )
    room = await _room(session, settings, user) if rows else None
    if room is not None and room < len(rows):
        # Past the quota: the new pages after the first `room` are refused, each with its error.
        saved = await _saved_urls(session, user, [r["normalized_url"] for r in rows])
        new = [r["normalized_url"] for r in rows if r["normalized_url"] not in saved]
        refused = set(new[room:])
        error = quota_exceeded(bookmark_quota(settings, user))
        rows = [r for r in rows if r["normalized_url"] not in refused]
        for i, normalized in enumerate(normalized_of):
            if normalized in refused:
                results[i] = BulkResult(None, False, error)
                normalized_of[i] = None
        for normalized in refused:
            del tags_for[normalized]
    tags = await _ensure_tags_many(session, user.id, tags_for)
    for row in rows:
        # What the bookmark_tags trigger will write: given at once, its per-tag updates find
        # the text unchanged and leave the search vector (and its postings) alone.
        stored = sorted(tags[k][1] for k in tags_for[row["normalized_url"]] if k in tags)
        row["tags_text"] = " ".join(stored) or None
    ids: dict[str, uuid.UUID] = {}
    created: set[uuid.UUID] = set()
    if rows:
        # Core executemany: SQLAlchemy batches the rows into multi-row VALUES with one cached
        # statement (an ORM .values(list) is compiled afresh each time, and slowly).
        table = Bookmark.__table__
        inserted = await session.execute(
            insert(table)
            .on_conflict_do_nothing(index_elements=["user_id", "normalized_url"])
            .returning(table.c.id, table.c.normalized_url),
            rows,
        )
        for bookmark_id, normalized in inserted:
            ids[normalized] = bookmark_id
            created.add(bookmark_id)
        missing = [r["normalized_url"] for r in rows if r["normalized_url"] not in ids]
        if missing:
            existing = await session.execute(
                select(Bookmark.id, Bookmark.normalized_url).where(
                    Bookmark.user_id == user.id, Bookmark.normalized_url.in_(missing)
                )
            )
            ids.update({normalized: bookmark_id for bookmark_id, normalized in existing})
    links = [
        (ids[n], tags[k][0])
        for n, names in tags_for.items()
        if n in ids
        for k in names
        if k in tags
    ]
    if links:
        # One statement (not executemany): the row triggers on bookmark_tags then all see the
        # bookmark's full set of tags, which matches tags_text as inserted.
        await session.execute(
            text(
                "INSERT INTO bookmark_tags (bookmark_id, tag_id)"
                " SELECT * FROM unnest(CAST(:b AS uuid[]), CAST(:t AS uuid[]))"
                " ON CONFLICT DO NOTHING"
            ),
            {"b": [b for b, _ in links], "t": [t for _, t in links]},
        )
    first_seen: set[str] = set()
    for i, normalized in enumerate(normalized_of):
        if normalized is None:
            continue
        bookmark_id = ids[normalized]
        is_new = bookmark_id in created and normalized not in first_seen
        first_seen.add(normalized)
        results[i] = BulkResult(bookmark_id, is_new)
    for bookmark_id in created:
        pipeline.start_new(session, bookmark_id, queue_name)
    return [r for r in results if r is not None]


async def _ensure_tags_many(
    session: AsyncSession, user_id: uuid.UUID, tags_for: dict[str, dict[str, str]]
) -> dict[str, tuple[uuid.UUID, str]]:
    """{lower-cased name: (tag id, the name as stored)} for every name, creating the new ones."""
    names: dict[str, str] = {}
    for by_lower in tags_for.values():
        for lower, name in by_lower.items():
            names.setdefault(lower, name)
    if not names:
        return {}
    await session.execute(
        insert(Tag)
        # In the same order as _ensure_tags(), so an import and a save never cross.
        .values([{"id": uuid.uuid4(), "user_id": user_id, "name": names[k]} for k in sorted(names)])
        .on_conflict_do_nothing()
    )
    rows = await session.execute(
        select(Tag.id, Tag.name).where(
            Tag.user_id == user_id, func.lower(Tag.name).in_(list(names))
        )
    )
    return {name.lower(): (tag_id, name) for tag_id, name in rows}
