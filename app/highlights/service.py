"""Highlights: create, list, change and delete them; search them by words and meaning; write
them out as Markdown; and what recommendations read from them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app import cursors
from app.bookmarks.models import Bookmark
from app.db import enqueue_after_commit
from app.errors import NotFound, Unprocessable
from app.highlights.models import Highlight
from app.highlights.schemas import HighlightCreate, HighlightOut, HighlightUpdate
from app.projects.service import Vectors
from app.search import service as search
from app.users.models import User

# Each kind of search reads at most this many highlights' scores before ranking.
CANDIDATES = 200
MAX_PER_BOOKMARK = 2_000


def embed_text(quote: str, note: str | None) -> str:
    """What a highlight means to the model: the passage, then what the user wrote about it."""
    return f"{quote.strip()}\n{note.strip()}" if note and note.strip() else quote.strip()


def to_out(row: Highlight) -> HighlightOut:
    return HighlightOut(
        id=row.id, bookmark_id=row.bookmark_id, quote=row.quote, prefix=row.prefix,
        suffix=row.suffix, start=row.position_start, end=row.position_end, color=row.color,  # type: ignore[arg-type]
        note=row.note, created_at=row.created_at, updated_at=row.updated_at,
    )  # fmt: skip


def embed_later(session: AsyncSession, user_id: uuid.UUID) -> None:
    """A worker embeds the user's highlights that have no vector yet (app/highlights/jobs.py)."""
    enqueue_after_commit(
        session, "embed_highlights", str(user_id), _job_id=f"embed_highlights:{user_id}"
    )


async def _embed(
    session: AsyncSession, row: Highlight, vectors: Vectors | None, *, force: bool = False
) -> None:
    found = await vectors.of([embed_text(row.quote, row.note)]) if vectors else None
    if found:
        row.embedding = found[0]
    else:
        if force:
            row.embedding = None  # the old vector no longer says what it holds
        embed_later(session, row.user_id)


async def for_bookmark(
    session: AsyncSession, user: User, bookmark_id: uuid.UUID
) -> list[Highlight]:
    """In reading order (the imported ones, without a position, last)."""
    return list(
        await session.scalars(
            select(Highlight)
            .where(Highlight.user_id == user.id, Highlight.bookmark_id == bookmark_id)
            .order_by(
                Highlight.position_start.asc().nulls_last(), Highlight.created_at, Highlight.id
            )
        )
    )


async def create(
    session: AsyncSession,
    user: User,
    bookmark: Bookmark,
    data: HighlightCreate,
    vectors: Vectors | None,
) -> Highlight:
    count = await session.scalar(select(func.count()).where(Highlight.bookmark_id == bookmark.id))
    if (count or 0) >= MAX_PER_BOOKMARK:
        raise Unprocessable(
            f"A page keeps at most {MAX_PER_BOOKMARK:,} highlights.", code="too_many_highlights"
        )
    row = Highlight(
        id=uuid.uuid4(), user_id=user.id, bookmark_id=bookmark.id, quote=data.quote,
        prefix=data.prefix, suffix=data.suffix, position_start=data.start,
        position_end=data.end, color=data.color, note=(data.note or "").strip() or None,
    )  # fmt: skip
    await _embed(session, row, vectors)
    session.add(row)
    await session.flush()
    return row


async def get_owned(session: AsyncSession, user: User, highlight_id: uuid.UUID) -> Highlight:
    row = await session.scalar(
        select(Highlight).where(Highlight.id == highlight_id, Highlight.user_id == user.id)
    )
    if row is None:
        raise NotFound("No such highlight.", code="highlight_not_found")
    return row


async def update(
    session: AsyncSession, row: Highlight, data: HighlightUpdate, vectors: Vectors | None
) -> Highlight:
    if data.color is not None:
        row.color = data.color
    if "note" in data.model_fields_set:
        note = (data.note or "").strip() or None
        if note != row.note:
            row.note = note
            await _embed(session, row, vectors, force=True)
    await session.flush()
    return row


async def delete(session: AsyncSession, row: Highlight) -> None:
    await session.delete(row)
    await session.flush()


# --- all of a user's highlights -------------------------------------------------------------


@dataclass
class Found:
    rows: list[tuple[Highlight, Bookmark, float | None]]
    next_cursor: str | None
    total: int


def _filtered(user: User, color: str | None, bookmark_id: uuid.UUID | None) -> list[Any]:
    where = [Highlight.user_id == user.id]
    if color:
        where.append(Highlight.color == color)
    if bookmark_id:
        where.append(Highlight.bookmark_id == bookmark_id)
    return where


async def _with_bookmarks(
    session: AsyncSession, user: User, rows: Iterable[tuple[Highlight, float | None]]
) -> list[tuple[Highlight, Bookmark, float | None]]:
    rows = list(rows)
    ids = {h.bookmark_id for h, _ in rows}
    marks = {
        b.id: b
        for b in await session.scalars(
            select(Bookmark).where(Bookmark.user_id == user.id, Bookmark.id.in_(ids))
        )
    }
    return [(h, marks[h.bookmark_id], s) for h, s in rows if h.bookmark_id in marks]


async def newest(
    session: AsyncSession,
    user: User,
    *,
    color: str | None = None,
    bookmark_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Found:
    where = _filtered(user, color, bookmark_id)
    total = await session.scalar(select(func.count()).select_from(Highlight).where(*where)) or 0
    query = select(Highlight).where(*where)
    if cursor:
        after = cursors.decode_created(cursor)
        query = query.where(tuple_(Highlight.created_at, Highlight.id) < after)
    rows = list(
        await session.scalars(
            query.order_by(Highlight.created_at.desc(), Highlight.id.desc()).limit(limit + 1)
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = cursors.encode_created(rows[-1].created_at, rows[-1].id) if more else None
    return Found(
        await _with_bookmarks(session, user, ((h, None) for h in rows)), next_cursor, total
    )


_KEYWORD = text("""
    SELECT h.id, ts_rank_cd(h.search_vector, q.tsq, 32) AS score
    FROM highlights h, (SELECT websearch_to_tsquery('english', :q) AS tsq) q
    WHERE h.user_id = :uid AND h.search_vector @@ q.tsq
      AND (CAST(:color AS text) IS NULL OR h.color = :color)
      AND (CAST(:bid AS uuid) IS NULL OR h.bookmark_id = :bid)
    ORDER BY score DESC, h.id LIMIT :n
""")
_MEANING = text("""
    SELECT h.id, 1 - (h.embedding <=> CAST(:v AS vector)) AS similarity
    FROM highlights h
    WHERE h.user_id = :uid AND h.embedding IS NOT NULL
      AND (CAST(:color AS text) IS NULL OR h.color = :color)
      AND (CAST(:bid AS uuid) IS NULL OR h.bookmark_id = :bid)
    ORDER BY h.embedding <=> CAST(:v AS vector), h.id LIMIT :n
""")


async def matching(
    session: AsyncSession,
    user: User,
    q: str,
    mode: str,
    vector: np.ndarray | None,
    *,
    color: str | None = None,
    bookmark_id: uuid.UUID | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[Found, str]:
    """Highlights ranked for a query, as search ranks pages: by words (the note counting
    more than the quote), by meaning (the quote and note embedded), or both fused; only
    those that match with confidence (the same relevance floor as search: words found, or
    meaning as close as the floor)."""
    args = {"q": q, "uid": user.id, "color": color, "bid": bookmark_id, "n": CANDIDATES}
    words = (
        []
        if mode == "semantic" and vector is not None
        else list((await session.execute(_KEYWORD, args)).all())
    )
    used = mode if vector is not None or mode == "keyword" else "keyword"
    meaning: list[tuple[uuid.UUID, float]] = []
    if vector is not None and used != "keyword":
        meaning = [
            (hid, float(sim))
            for hid, sim in await session.execute(
                _MEANING, {**args, "v": search.vector_text(vector)}
            )
            if float(sim) >= search.RELEVANCE_FLOOR
        ]
    scores: dict[uuid.UUID, float] = {}
    best = max((float(s) for _, s in words), default=0.0) or 1.0
    for rank, (hid, score) in enumerate(words):
        scores[hid] = (
            scores.get(hid, 0.0)
            + (1.0 if used == "keyword" else 0.5) * (float(score) / best)
            + 1e-6 / (rank + 1)
        )
    for hid, sim in meaning:
        scores[hid] = scores.get(hid, 0.0) + (1.0 if used == "semantic" else 0.5) * sim
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], str(kv[0])))
    page = ranked[offset : offset + limit]
    rows = {
        h.id: h
        for h in await session.scalars(
            select(Highlight).where(
                Highlight.user_id == user.id, Highlight.id.in_([hid for hid, _ in page])
            )
        )
    }
    found = await _with_bookmarks(
        session, user, ((rows[hid], round(s, 4)) for hid, s in page if hid in rows)
    )
    more = len(ranked) > offset + limit
    return Found(found, cursors.encode(offset + limit) if more else None, len(ranked)), used


def offset_of(cursor: str | None) -> int:
    if not cursor:
        return 0
    return cursors.decode_offset(cursor)


# --- Markdown -------------------------------------------------------------------------------


def _quote_block(quote: str) -> str:
    return "\n".join("> " + line if line.strip() else ">" for line in quote.strip().splitlines())


def markdown(groups: list[tuple[Bookmark, list[Highlight]]]) -> str:
    """Each page's title (a link to it), then its highlights as block quotes, each note
    under its highlight: what Obsidian, Logseq and Readwise read."""
    out: list[str] = []
    for bookmark, rows in groups:
        title = (bookmark.title or bookmark.page_title or bookmark.url).replace("]", "\\]")
        out.append(f"## [{title}]({bookmark.url})\n")
        for h in rows:
            out.append(_quote_block(h.quote) + "\n")
            if h.note:
                out.append(h.note.strip() + "\n")
    return "\n".join(out) if out else ""


async def grouped(
    session: AsyncSession, user: User, bookmark_id: uuid.UUID | None = None
) -> list[tuple[Bookmark, list[Highlight]]]:
    """The user's highlights by page (newest page first), each page's in reading order."""
    query = select(Highlight).where(Highlight.user_id == user.id)
    if bookmark_id:
        query = query.where(Highlight.bookmark_id == bookmark_id)
    rows = list(
        await session.scalars(
            query.order_by(
                Highlight.bookmark_id,
                Highlight.position_start.asc().nulls_last(),
                Highlight.created_at,
                Highlight.id,
            )
        )
    )
    by_page: dict[uuid.UUID, list[Highlight]] = {}
    for h in rows:
        by_page.setdefault(h.bookmark_id, []).append(h)
    marks = {
        b.id: b
        for b in await session.scalars(
            select(Bookmark).where(Bookmark.user_id == user.id, Bookmark.id.in_(list(by_page)))
        )
    }
    pages = [(marks[bid], hs) for bid, hs in by_page.items() if bid in marks]
    return sorted(pages, key=lambda p: (p[0].saved_at, str(p[0].id)), reverse=True)


# --- what recommendations read ---------------------------------------------------------------

_CLOSEST = text("""
    SELECT DISTINCT ON (h.bookmark_id) h.bookmark_id, h.quote,
           1 - (h.embedding <=> CAST(:v AS vector)) AS similarity
    FROM highlights h
    WHERE h.user_id = :uid AND h.bookmark_id = ANY(:ids) AND h.embedding IS NOT NULL
    ORDER BY h.bookmark_id, h.embedding <=> CAST(:v AS vector), h.id
""")


async def closest(
    session: AsyncSession, user_id: uuid.UUID, ids: list[uuid.UUID], vector: np.ndarray | None
) -> dict[uuid.UUID, tuple[str, float]]:
    """For each of these bookmarks that has highlights, the one closest in meaning to the
    vector and its similarity."""
    if vector is None or not ids:
        return {}
    rows = await session.execute(
        _CLOSEST, {"v": search.vector_text(vector), "uid": user_id, "ids": ids}
    )
    return {bid: (quote, float(sim)) for bid, quote, sim in rows}
