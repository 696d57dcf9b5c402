"""Exports: all of a user's bookmarks, streamed a page at a time, as Netscape bookmark HTML
(which browsers and Fuze import back), Fuze JSON, CSV, or a ZIP of the Fuze JSON with every
archived copy of every page (which Fuze imports back, archives included).

The ZIP is written as it is sent (entries with data descriptors, never seeked back to), so a
large library is never held in memory: `fuze-export.json`, then `archives/<bookmark id>/
<archive id>.html.gz` (the stored gzip file as it is, not compressed again), then
`manifest.json`, which maps each bookmark to its files and their dates."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from functools import partial
from html import escape
from typing import Any, NamedTuple

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.archives import images as archive_images
from app.archives import store as archives_store
from app.archives.models import PageArchive
from app.bookmarks import service as bookmarks_service
from app.bookmarks.models import Bookmark
from app.config import Settings
from app.db import ReadPool, utcnow
from app.highlights.models import Highlight
from app.lists import service as lists_service

PAGE = 500
CSV_COLUMNS = [
    "url", "title", "notes", "tags", "saved_at", "updated_at", "status", "description",
    "site_name", "author", "published_at", "language", "read_at", "favorite", "archived_at",
]  # fmt: skip
MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "zip": "application/zip",
}
ZIP_JSON = "fuze-export.json"
ZIP_MANIFEST = "manifest.json"

Page = list[tuple[Bookmark, list[str], list[PageArchive]]]


async def _pages(
    reads: ReadPool,
    maker: async_sessionmaker[AsyncSession],
    user_id: uuid.UUID,
    list_ids: list[uuid.UUID] | None = None,
) -> AsyncIterator[Page]:
    """Oldest first, by keyset: each page is one short query, whatever the library's size,
    in a session of its own (on a read replica when one may serve the user)."""
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        found = await reads.read(
            user_id, partial(_page, user_id=user_id, after=after, list_ids=list_ids), maker
        )
        if not found:
            return
        yield found
        last = found[-1][0]
        after = (last.saved_at, last.id)


async def _page(
    session: AsyncSession,
    user_id: uuid.UUID,
    after: tuple[datetime, uuid.UUID] | None,
    list_ids: list[uuid.UUID] | None = None,
) -> Page:
    query = select(Bookmark).where(Bookmark.user_id == user_id)
    if list_ids is not None:
        query = query.where(Bookmark.id.in_(lists_service.members(list_ids)))
    if after is not None:
        query = query.where(tuple_(Bookmark.saved_at, Bookmark.id) > after)
    rows = list(await session.scalars(query.order_by(Bookmark.saved_at, Bookmark.id).limit(PAGE)))
    ids = [b.id for b in rows]
    tags = await bookmarks_service.tags_of(session, ids)
    archives: dict[uuid.UUID, list[PageArchive]] = {i: [] for i in ids}
    if ids:
        found = await session.scalars(
            select(PageArchive)
            .where(PageArchive.user_id == user_id, PageArchive.bookmark_id.in_(ids))
            .order_by(PageArchive.created_at, PageArchive.id)
        )
        for archive in found:
            archives[archive.bookmark_id].append(archive)
    return [(b, tags[b.id], archives[b.id]) for b in rows]


async def _highlights(
    session: AsyncSession, user_id: uuid.UUID, ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """These bookmarks' highlights and notes, in reading order, as the Fuze import reads
    them back."""
    rows = await session.scalars(
        select(Highlight)
        .where(Highlight.user_id == user_id, Highlight.bookmark_id.in_(ids))
        .order_by(
            Highlight.bookmark_id,
            Highlight.position_start.asc().nulls_last(),
            Highlight.created_at,
            Highlight.id,
        )
    )
    out: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for h in rows:
        out.setdefault(h.bookmark_id, []).append(
            {
                "quote": h.quote,
                "note": h.note,
                "color": h.color,
                "prefix": h.prefix,
                "suffix": h.suffix,
                "start": h.position_start,
                "end": h.position_end,
                "created_at": h.created_at.isoformat(),
            }
        )
    return out


def _epoch(value: datetime | None) -> int:
    return int(value.timestamp()) if value else 0


def _title(bookmark: Bookmark) -> str | None:
    return bookmark.title or bookmark.page_title


NETSCAPE_HEAD = """<!DOCTYPE NETSCAPE-Bookmark-file-1>
<!-- This is an automatically generated file.
     It will be read and overwritten.
     DO NOT EDIT! -->
<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">
<TITLE>Bookmarks</TITLE>
<H1>Bookmarks</H1>
<DL><p>
"""


def netscape_item(bookmark: Bookmark, tags: list[str]) -> str:
    attrs = (
        f'HREF="{escape(bookmark.url)}" ADD_DATE="{_epoch(bookmark.saved_at)}"'
        f' LAST_MODIFIED="{_epoch(bookmark.updated_at)}"'
    )
    if tags:
        attrs += f' TAGS="{escape(",".join(tags))}"'
    text = escape(_title(bookmark) or bookmark.url, quote=False)
    out = f"    <DT><A {attrs}>{text}</A>\n"
    if bookmark.notes:
        out += f"    <DD>{escape(bookmark.notes, quote=False)}\n"
    return out


class Kept(NamedTuple):
    """What the ZIP needs of a copy once the JSON is written (not the whole row: a large
    library's rows would fill memory)."""

    bookmark_id: uuid.UUID
    id: uuid.UUID
    created_at: datetime
    source_url: str
    size_bytes: int


def archive_file_name(archive: PageArchive | Kept) -> str:
    """Where an archived copy sits inside the ZIP export."""
    return f"archives/{archive.bookmark_id}/{archive.id}.html.gz"


def images_file_name(archive: PageArchive | Kept) -> str:
    """Where a copy's images for the reader view (app/archives/images.py) sit in the ZIP."""
    return f"archives/{archive.bookmark_id}/{archive.id}.images.zip"


def _archive_record(archive: PageArchive, in_zip: bool) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": str(archive.id),
        "created_at": archive.created_at.isoformat(),
        "size": archive.size_bytes,
        "status": archive.status,
    }
    if in_zip and archive.status == "ready":
        record["file"] = archive_file_name(archive)
        record["source_url"] = archive.source_url
    return record


def _record(
    bookmark: Bookmark, tags: list[str], archives: Sequence[PageArchive] = (), in_zip: bool = False
) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "url": bookmark.url,
        "title": _title(bookmark),
        "notes": bookmark.notes,
        "tags": tags,
        "saved_at": iso(bookmark.saved_at),
        "updated_at": iso(bookmark.updated_at),
        "status": bookmark.status,
        "description": bookmark.description,
        "site_name": bookmark.site_name,
        "author": bookmark.author,
        "published_at": iso(bookmark.published_at),
        "language": bookmark.language,
        # Reading states (imported back by Fuze; null: unread, not archived).
        "read_at": iso(bookmark.read_at),
        "favorite": bookmark.favorite,
        "archived_at": iso(bookmark.archived_at),
        # The page's archived copies (the files themselves travel in the ZIP export only).
        "archives": [_archive_record(a, in_zip) for a in archives],
    }


async def _json(
    reads: ReadPool,
    maker: async_sessionmaker[AsyncSession],
    user_id: uuid.UUID,
    in_zip: bool,
    found: list[Kept] | None = None,
    list_ids: list[uuid.UUID] | None = None,
) -> AsyncIterator[bytes]:
    """Fuze's JSON export; `found` collects the archives with a file, for the ZIP."""
    head = {"fuze_export": 1, "exported_at": utcnow().isoformat()}
    yield (json.dumps(head)[:-1] + ', "bookmarks": [').encode()
    first = True
    async for page in _pages(reads, maker, user_id, list_ids):
        parts = []
        ids = [b.id for b, _, _ in page]
        marked = await reads.read(user_id, partial(_highlights, user_id=user_id, ids=ids), maker)
        paths = await reads.read(
            user_id, partial(lists_service.paths_of, user_id=user_id, ids=ids), maker
        )
        for bookmark, tags, archives in page:
            record = _record(bookmark, tags, archives, in_zip)
            record["highlights"] = marked.get(bookmark.id, [])
            record["lists"] = paths.get(bookmark.id, [])
            parts.append(("\n" if first else ",\n") + json.dumps(record))
            first = False
            if found is not None:
                found.extend(
                    Kept(a.bookmark_id, a.id, a.created_at, a.source_url, a.size_bytes)
                    for a in archives
                    if a.status == "ready"
                )
        yield "".join(parts).encode()
    yield b"\n]}\n"


class _Sink:
    """What zipfile writes into: no seek or tell, so it writes a streamable ZIP; the bytes
    are taken out after each step and sent."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


def _read_file(path: Any) -> bytes | None:
    try:
        return path.read_bytes()  # type: ignore[no-any-return]
    except FileNotFoundError:
        return None


async def _zip(
    reads: ReadPool,
    maker: async_sessionmaker[AsyncSession],
    user_id: uuid.UUID,
    settings: Settings,
    list_ids: list[uuid.UUID] | None = None,
) -> AsyncIterator[bytes]:
    sink = _Sink()
    out = zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED)  # type: ignore[arg-type]
    found: list[Kept] = []
    info = zipfile.ZipInfo(ZIP_JSON, _now_tuple())
    info.compress_type = zipfile.ZIP_DEFLATED
    with out.open(info, "w", force_zip64=True) as member:
        async for piece in _json(reads, maker, user_id, True, found, list_ids):
            member.write(piece)
            yield sink.take()
    manifest: dict[str, list[dict[str, Any]]] = {}
    for archive in found:
        path = archives_store.archive_file(
            settings.data_dir, user_id, archive.bookmark_id, archive.id
        )
        body = await asyncio.to_thread(_read_file, path)
        if body is None:  # deleted since the JSON was written
            continue
        info = zipfile.ZipInfo(archive_file_name(archive), archive.created_at.timetuple()[:6])
        info.compress_type = zipfile.ZIP_STORED  # gzip already
        await asyncio.to_thread(out.writestr, info, body)
        files = {
            "file": archive_file_name(archive),
            "archive_id": str(archive.id),
            "created_at": archive.created_at.isoformat(),
            "source_url": archive.source_url,
            "size": archive.size_bytes,
        }
        yield sink.take()
        pictures = archive_images.images_file(
            settings.data_dir, user_id, archive.bookmark_id, archive.id
        )
        body = await asyncio.to_thread(_read_file, pictures)
        if body is not None:
            info = zipfile.ZipInfo(images_file_name(archive), archive.created_at.timetuple()[:6])
            await asyncio.to_thread(out.writestr, info, body)
            files["images"] = images_file_name(archive)
            yield sink.take()
        manifest.setdefault(str(archive.bookmark_id), []).append(files)
    document = {
        "fuze_export_zip": 1,
        "exported_at": utcnow().isoformat(),
        "export": ZIP_JSON,
        "bookmarks": [{"bookmark_id": k, "archives": v} for k, v in manifest.items()],
    }
    out.writestr(ZIP_MANIFEST, json.dumps(document, indent=1))
    out.close()
    yield sink.take()


def _now_tuple() -> tuple[int, int, int, int, int, int]:
    return utcnow().timetuple()[:6]  # type: ignore[return-value]


async def stream(
    reads: ReadPool,
    maker: async_sessionmaker[AsyncSession],
    user_id: uuid.UUID,
    fmt: str,
    settings: Settings | None = None,
    list_ids: list[uuid.UUID] | None = None,
) -> AsyncIterator[bytes]:
    """The export of every bookmark, or with `list_ids` of those in these lists."""
    if fmt == "html":
        yield NETSCAPE_HEAD.encode()
        async for page in _pages(reads, maker, user_id, list_ids):
            yield "".join(netscape_item(b, tags) for b, tags, _ in page).encode()
        yield b"</DL><p>\n"
    elif fmt == "json":
        async for piece in _json(reads, maker, user_id, False, list_ids=list_ids):
            yield piece
    elif fmt == "zip":
        assert settings is not None
        async for piece in _zip(reads, maker, user_id, settings, list_ids):
            yield piece
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        async for page in _pages(reads, maker, user_id, list_ids):
            for bookmark, tags, _ in page:
                record = _record(bookmark, tags)
                record["tags"] = ",".join(tags)
                record["favorite"] = "true" if bookmark.favorite else "false"
                writer.writerow([record[c] if record[c] is not None else "" for c in CSV_COLUMNS])
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue().encode()  # the header alone, for an empty library
