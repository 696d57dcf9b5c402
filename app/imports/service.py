"""Imports: accept a file (checked, stored in pieces), save its entries in batches, and say
what became of every entry. Every query is scoped to the import's user."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any, BinaryIO

from pydantic import ValidationError
from sqlalchemy import and_, func, insert, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app import cursors
from app.bookmarks import pipeline
from app.bookmarks import service as bookmarks_service
from app.bookmarks.models import FAILED as BOOKMARK_FAILED
from app.bookmarks.models import READY, Bookmark
from app.bookmarks.schemas import BookmarkCreate
from app.config import Settings
from app.db import enqueue_after_commit, utcnow
from app.errors import NotFound, PayloadTooLarge, Unprocessable
from app.events import service as events
from app.highlights import service as highlights_service
from app.highlights.models import Highlight
from app.imports import parsers
from app.imports.models import (
    DONE,
    DUPLICATE,
    IMPORTED,
    INVALID,
    PROCESSING,
    QUEUED,
    ImportBatch,
    ImportChunk,
    ImportEntry,
)
from app.lists import service as lists_service
from app.users.models import User

# The lower-priority arq queue: parsing imports and processing their pages. Interactive saves
# use arq's default queue, served by its own worker, so they never wait behind an import.
IMPORT_QUEUE = pipeline.IMPORT_QUEUE
CHUNK_BYTES = 1024 * 1024


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB"


async def accept(
    session: AsyncSession, settings: Settings, user: User, file: BinaryIO, filename: str | None
) -> ImportBatch:
    """Check the file (size, format, every entry readable), store it, queue its parsing."""
    size = file.seek(0, 2)
    file.seek(0)
    if size > settings.import_max_bytes:
        raise PayloadTooLarge(
            f"This file is {_mb(size)}; imports are limited to {_mb(settings.import_max_bytes)}. "
            "Split it into smaller files.",
            code="import_too_large",
            details={"size_bytes": size, "limit_bytes": settings.import_max_bytes},
        )
    if size == 0:
        raise Unprocessable("The file is empty.", code="import_malformed")
    try:
        fmt, total = await asyncio.to_thread(parsers.inspect, file, filename)
    except parsers.MalformedFile as exc:
        raise Unprocessable(
            f"This file cannot be imported: {exc.message}.",
            code="import_malformed",
            details={"line": exc.line, "entry": exc.entry},
        ) from exc
    batch = ImportBatch(
        id=uuid.uuid4(),
        user_id=user.id,
        filename=(filename or "")[:255] or None,
        format=fmt,
        status=QUEUED,
        size_bytes=size,
        total=total,
        parsed=0,
        imported=0,
        duplicates=0,
        invalid=0,
        ready=0,
        pipeline_failed=0,
    )
    session.add(batch)
    await session.flush()
    file.seek(0)
    seq = 0
    while data := await asyncio.to_thread(file.read, CHUNK_BYTES):
        # Core inserts: the pieces are not kept in the session.
        await session.execute(insert(ImportChunk).values(import_id=batch.id, seq=seq, data=data))
        seq += 1
    enqueue_parse(session, batch.id)
    return batch


def enqueue_parse(session: AsyncSession, import_id: uuid.UUID) -> None:
    enqueue_after_commit(
        session,
        "parse_import",
        str(import_id),
        _job_id=f"parse_import:{import_id}",
        _queue_name=IMPORT_QUEUE,
    )


async def get_owned(session: AsyncSession, user: User, import_id: uuid.UUID) -> ImportBatch:
    batch = await session.scalar(
        select(ImportBatch).where(ImportBatch.id == import_id, ImportBatch.user_id == user.id)
    )
    if batch is None:
        raise NotFound("No such import.", code="import_not_found")
    return batch


async def list_imports(
    session: AsyncSession, user: User, cursor: str | None, limit: int
) -> tuple[list[ImportBatch], str | None]:
    query = select(ImportBatch).where(ImportBatch.user_id == user.id)
    if cursor:
        key = cursors.decode_created(cursor)
        query = query.where(tuple_(ImportBatch.created_at, ImportBatch.id) < key)
    rows = list(
        await session.scalars(
            query.order_by(ImportBatch.created_at.desc(), ImportBatch.id.desc()).limit(limit + 1)
        )
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = cursors.encode_created(rows[-1].created_at, rows[-1].id)
    return rows, next_cursor


async def count_pipeline(session: AsyncSession, batch: ImportBatch) -> Counter[str]:
    """Statuses of the bookmarks this import made, counted now."""
    rows = await session.execute(
        select(Bookmark.status, func.count())
        .select_from(ImportEntry)
        .join(Bookmark, Bookmark.id == ImportEntry.bookmark_id)
        .where(
            ImportEntry.user_id == batch.user_id,
            ImportEntry.import_id == batch.id,
            ImportEntry.outcome == IMPORTED,
        )
        .group_by(Bookmark.status)
    )
    return Counter({status: n for status, n in rows})


def summary(batch: ImportBatch, statuses: Counter[str] | None = None) -> dict[str, Any]:
    """The counters a person sees. Without `statuses`, the last stored pipeline counts."""
    if statuses is None:
        ready, pipeline_failed = batch.ready, batch.pipeline_failed
        pending = max(batch.imported - ready - pipeline_failed, 0)
    else:
        ready, pipeline_failed = statuses[READY], statuses[BOOKMARK_FAILED]
        pending = sum(statuses.values()) - ready - pipeline_failed
    # Imported bookmarks deleted since count as done with.
    settled = batch.imported - pending
    status = batch.status
    if status == PROCESSING and pending == 0:
        status = DONE
    return {
        "id": batch.id,
        "filename": batch.filename,
        "format": batch.format,
        "format_name": parsers.FORMATS.get(batch.format, batch.format),
        "status": status,
        "size_bytes": batch.size_bytes,
        "total": batch.total,
        "parsed": batch.parsed,
        "imported": batch.imported,
        "duplicates": batch.duplicates,
        "invalid": batch.invalid,
        "pending": pending,
        "ready": ready,
        "failed": batch.invalid + pipeline_failed,
        "processed": batch.duplicates + batch.invalid + settled,
        "error_code": batch.error_code,
        "error_message": batch.error_message,
        "created_at": batch.created_at,
        "started_at": batch.started_at,
        "parsed_at": batch.parsed_at,
        "finished_at": batch.finished_at,
    }


async def list_entries(
    session: AsyncSession,
    batch: ImportBatch,
    outcome: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """Entries in file order; `failed` = invalid ones and imported ones whose page failed."""
    query = (
        select(ImportEntry, Bookmark.status, Bookmark.error_message)
        .outerjoin(Bookmark, Bookmark.id == ImportEntry.bookmark_id)
        .where(ImportEntry.user_id == batch.user_id, ImportEntry.import_id == batch.id)
    )
    if outcome == "failed":
        query = query.where(
            or_(
                ImportEntry.outcome == INVALID,
                and_(ImportEntry.outcome == IMPORTED, Bookmark.status == BOOKMARK_FAILED),
            )
        )
    elif outcome:
        query = query.where(ImportEntry.outcome == outcome)
    if cursor:
        after = cursors.decode_offset(cursor)
        query = query.where(ImportEntry.position > after)
    rows = list(await session.execute(query.order_by(ImportEntry.position).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = cursors.encode(rows[-1][0].position)
    items = []
    for entry, status, error_message in rows:
        reason = entry.reason
        if entry.outcome == IMPORTED and status == BOOKMARK_FAILED:
            reason = error_message or "The page could not be processed."
        items.append(
            {
                "position": entry.position,
                "line": entry.line,
                "url": entry.url,
                "title": entry.title,
                "outcome": entry.outcome,
                "reason_code": entry.reason_code,
                "reason": reason,
                "bookmark_id": entry.bookmark_id,
                "bookmark_status": status,
            }
        )
    return items, next_cursor


# A scheme ("place:", "javascript:", "file:"), but not a host and port ("example.com:8080").
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):(?!\d+(?:/|$))")


def _validation_reason(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error.get("loc", ()))
    message = str(error.get("msg", "not valid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


async def save_entries(
    session: AsyncSession,
    settings: Settings,
    user: User,
    batch: ImportBatch,
    entries: list[tuple[int, parsers.Entry]],
    created: dict[int, uuid.UUID] | None = None,
) -> Counter[str]:
    """Save one batch of (position, entry): bookmarks with the rules of a single save, and one
    result row per entry. Returns the outcomes counted; `created` gets the position -> id of
    each new bookmark. The caller commits."""
    rows: dict[int, dict[str, Any]] = {}
    items: list[bookmarks_service.BulkItem] = []
    item_positions: list[int] = []
    now = utcnow()  # the date of a read or archived state whose file gives none
    for position, entry in entries:
        row = {
            "import_id": batch.id,
            "position": position,
            "user_id": user.id,
            "line": entry.line,
            "url": entry.url[:4096] if entry.url else None,
            "title": entry.title,
            "outcome": INVALID,
            "bookmark_id": None,
            "reason_code": None,
            "reason": None,
        }
        rows[position] = row
        if entry.error or not entry.url:
            row["reason_code"], row["reason"] = "invalid_entry", entry.error or "It has no URL."
            continue
        scheme = _SCHEME.match(entry.url)
        if scheme and scheme.group(1).lower() not in ("http", "https"):
            row["reason_code"] = "invalid_url"
            row["reason"] = (
                f"Only http and https addresses can be saved (this is a {scheme.group(1)}: address)."
            )
            continue
        try:
            data = BookmarkCreate(
                url=entry.url,
                title=entry.title,
                notes=entry.notes,
                tags=entry.tags,
                favorite=entry.favorite,
            )
        except ValidationError as exc:
            row["reason_code"], row["reason"] = "invalid_field", _validation_reason(exc)
            continue
        # The states apply to a new bookmark only: one already saved keeps its own.
        items.append(
            bookmarks_service.BulkItem(
                data,
                entry.saved_at,
                read_at=entry.read_at or (now if entry.read else None),
                archived_at=entry.archived_at or (now if entry.archived else None),
                progress=entry.progress,
            )
        )
        item_positions.append(position)

    results = await bookmarks_service.create_many(
        session, settings, user, items, source="import", queue_name=IMPORT_QUEUE
    )
    made_here: dict[uuid.UUID, int] = {}
    maybe_earlier: set[uuid.UUID] = set()
    for position, result in zip(item_positions, results, strict=True):
        if result.error is not None:
            row = rows[position]
            row["reason_code"], row["reason"] = result.error.code, result.error.message
        elif result.created:
            made_here[result.bookmark_id] = position  # type: ignore[index]
        elif result.bookmark_id not in made_here:
            maybe_earlier.add(result.bookmark_id)  # type: ignore[arg-type]
    earlier: dict[uuid.UUID, int] = {}
    if maybe_earlier:
        found = await session.execute(
            select(ImportEntry.bookmark_id, ImportEntry.position).where(
                ImportEntry.user_id == user.id,
                ImportEntry.import_id == batch.id,
                ImportEntry.outcome == IMPORTED,
                ImportEntry.bookmark_id.in_(maybe_earlier),
            )
        )
        earlier = {bookmark_id: position for bookmark_id, position in found}
    for position, result in zip(item_positions, results, strict=True):
        if result.error is not None:
            continue
        row = rows[position]
        row["bookmark_id"] = result.bookmark_id
        if result.created:
            row["outcome"] = IMPORTED
            if created is not None:
                created[position] = result.bookmark_id  # type: ignore[assignment]
            continue
        row["outcome"] = DUPLICATE
        first = made_here.get(result.bookmark_id) or earlier.get(result.bookmark_id)  # type: ignore[arg-type]
        if first is not None:
            row["reason_code"] = "duplicate_in_file"
            row["reason"] = f"The same page is entry {first} of this file."
        else:
            row["reason_code"] = "already_saved"
            row["reason"] = "Already in your library (its tags were added to it)."
    if rows:
        await session.execute(insert(ImportEntry.__table__), list(rows.values()))
    by_position = dict(entries)
    await _save_highlights(
        session,
        user,
        [
            (result.bookmark_id, by_position[position].highlights)
            for position, result in zip(item_positions, results, strict=True)
            if result.error is None and result.bookmark_id and by_position[position].highlights
        ],
    )
    await lists_service.file_into(
        session,
        user,
        [
            (result.bookmark_id, by_position[position].folders)
            for position, result in zip(item_positions, results, strict=True)
            if result.error is None and result.bookmark_id and by_position[position].folders
        ],
    )
    return Counter(row["outcome"] for row in rows.values())


async def _save_highlights(
    session: AsyncSession, user: User, found: list[tuple[uuid.UUID, list[parsers.Highlight]]]
) -> None:
    """The highlights a file kept, on the bookmarks they belong to (new or already saved),
    each quote once per bookmark: importing the same file again adds none. A worker embeds
    them (app/highlights/jobs.py)."""
    if not found:
        return
    ids = {bid for bid, _ in found}
    kept = await session.execute(
        select(Highlight.bookmark_id, Highlight.quote).where(
            Highlight.user_id == user.id, Highlight.bookmark_id.in_(ids)
        )
    )
    seen = {(bid, quote) for bid, quote in kept}
    rows = []
    now = utcnow()
    for bid, highlights in found:
        for h in highlights:
            if (bid, h.quote) in seen:
                continue
            seen.add((bid, h.quote))
            # Undated ones keep the file's order (a page lists them by date).
            when = h.created_at or now + timedelta(microseconds=len(rows))
            rows.append(
                dict(
                    id=uuid.uuid4(),
                    user_id=user.id,
                    bookmark_id=bid,
                    quote=h.quote,
                    note=h.note,
                    color=h.color,
                    prefix=h.prefix,
                    suffix=h.suffix,
                    position_start=h.start,
                    position_end=h.end,
                    created_at=when,
                    updated_at=when,
                )
            )
    if rows:
        await session.execute(insert(Highlight.__table__), rows)
        highlights_service.embed_later(session, user.id)


async def publish_progress(redis: Any, batch: ImportBatch, statuses: Counter[str] | None) -> None:
    await events.publish(redis, batch.user_id, "import.progress", summary(batch, statuses))


def mark_parsed(batch: ImportBatch) -> None:
    batch.status = PROCESSING if batch.imported else DONE
    batch.parsed_at = utcnow()
    if batch.status == DONE:
        batch.finished_at = batch.parsed_at
