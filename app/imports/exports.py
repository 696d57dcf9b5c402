"""Exports: all of a user's bookmarks, streamed a page at a time, as Netscape bookmark HTML
(which browsers and Fuze import back), Fuze JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from functools import partial
from html import escape
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.bookmarks import service as bookmarks_service
from app.bookmarks.models import Bookmark
from app.db import ReadPool, utcnow
from app.highlights.models import Highlight

PAGE = 500
CSV_COLUMNS = [
    "url", "title", "notes", "tags", "saved_at", "updated_at", "status", "description",
    "site_name", "author", "published_at", "language", "read_at", "favorite", "archived_at",
]  # fmt: skip
MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
}


async def _pages(
    reads: ReadPool, maker: async_sessionmaker[AsyncSession], user_id: uuid.UUID
) -> AsyncIterator[list[tuple[Bookmark, list[str]]]]:
    """Oldest first, by keyset: each page is one short query, whatever the library's size,
    in a session of its own (on a read replica when one may serve the user)."""
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        found = await reads.read(user_id, partial(_page, user_id=user_id, after=after), maker)
        if not found:
            return
        yield found
        last = found[-1][0]
        after = (last.saved_at, last.id)


async def _page(
    session: AsyncSession, user_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None
) -> list[tuple[Bookmark, list[str]]]:
    query = select(Bookmark).where(Bookmark.user_id == user_id)
    if after is not None:
        query = query.where(tuple_(Bookmark.saved_at, Bookmark.id) > after)
    rows = list(await session.scalars(query.order_by(Bookmark.saved_at, Bookmark.id).limit(PAGE)))
    tags = await bookmarks_service.tags_of(session, [b.id for b in rows])
    return [(b, tags[b.id]) for b in rows]


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


def _record(bookmark: Bookmark, tags: list[str]) -> dict[str, Any]:
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
    }


async def stream(
    reads: ReadPool, maker: async_sessionmaker[AsyncSession], user_id: uuid.UUID, fmt: str
) -> AsyncIterator[bytes]:
    if fmt == "html":
        yield NETSCAPE_HEAD.encode()
        async for page in _pages(reads, maker, user_id):
            yield "".join(netscape_item(b, tags) for b, tags in page).encode()
        yield b"</DL><p>\n"
    elif fmt == "json":
        head = {"fuze_export": 1, "exported_at": utcnow().isoformat()}
        yield (json.dumps(head)[:-1] + ', "bookmarks": [').encode()
        first = True
        async for page in _pages(reads, maker, user_id):
            parts = []
            marked = await reads.read(
                user_id, partial(_highlights, user_id=user_id, ids=[b.id for b, _ in page]), maker
            )
            for bookmark, tags in page:
                record = _record(bookmark, tags)
                record["highlights"] = marked.get(bookmark.id, [])
                parts.append(("\n" if first else ",\n") + json.dumps(record))
                first = False
            yield "".join(parts).encode()
        yield b"\n]}\n"
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        async for page in _pages(reads, maker, user_id):
            for bookmark, tags in page:
                record = _record(bookmark, tags)
                record["tags"] = ",".join(tags)
                record["favorite"] = "true" if bookmark.favorite else "false"
                writer.writerow([record[c] if record[c] is not None else "" for c in CSV_COLUMNS])
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue().encode()  # the header alone, for an empty library
