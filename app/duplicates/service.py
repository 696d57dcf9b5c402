"""Duplicates by meaning: finding a user's pages that hold the same text under different URLs,
listing the pairs, merging one into the other, or keeping both.

Finding is two steps (app/duplicates/similarity.py says why): the page's nearest neighbours
by embedding among the user's bookmarks (pgvector, cosine >= MIN_COSINE), then the words of
each candidate against the page's (shingle containment). A pair is recorded once, the page
saved later repeating the one saved first; a dismissed pair stays, so it is not found again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app import cursors
from app.bookmarks import service as bookmarks_service
from app.bookmarks.models import Bookmark, BookmarkTag, BookmarkVector
from app.config import Settings
from app.duplicates import similarity
from app.duplicates.models import DISMISSED, OPEN, DuplicatePair
from app.errors import NotFound, Unprocessable
from app.feedback.models import Feedback
from app.highlights.models import Highlight
from app.lists.models import BookmarkListItem
from app.users.models import User

# Neighbours by meaning looked at per page: a duplicate is among the nearest few.
NEIGHBOURS = 10
# Pages checked per statement by a scan.
SCAN_BATCH = 200

_CANDIDATES = text(
    """
    SELECT v.bookmark_id AS a, n.bookmark_id AS b, 1 - n.distance AS cosine
    FROM bookmark_vectors v
    CROSS JOIN LATERAL (
        SELECT o.bookmark_id, o.embedding <=> v.embedding AS distance
        FROM bookmark_vectors o
        WHERE o.user_id = :user_id AND o.bookmark_id <> v.bookmark_id
        ORDER BY o.embedding <=> v.embedding
        LIMIT :k
    ) n
    WHERE v.user_id = :user_id AND v.bookmark_id = ANY(:ids) AND 1 - n.distance >= :min_cosine
    """
)


async def check(session: AsyncSession, user_id: uuid.UUID, bookmark_ids: list[uuid.UUID]) -> int:
    """Look for duplicates of these bookmarks in the user's library and record the new
    pairs; returns how many were recorded. The session works for the user."""
    if not bookmark_ids:
        return 0
    rows = (
        await session.execute(
            _CANDIDATES,
            {
                "user_id": user_id,
                "ids": bookmark_ids,
                "k": NEIGHBOURS,
                "min_cosine": similarity.MIN_COSINE,
            },
        )
    ).all()
    cosines: dict[tuple[uuid.UUID, uuid.UUID], float] = {}
    for a, b, cosine in rows:
        key = (a, b) if a < b else (b, a)
        cosines[key] = max(cosines.get(key, -1.0), float(cosine))
    if not cosines:
        return 0
    known = await session.execute(
        select(DuplicatePair.bookmark_id, DuplicatePair.original_id).where(
            DuplicatePair.user_id == user_id,
            or_(
                DuplicatePair.bookmark_id.in_({a for a, _ in cosines} | {b for _, b in cosines}),
                DuplicatePair.original_id.in_({a for a, _ in cosines} | {b for _, b in cosines}),
            ),
        )
    )
    for a, b in known:
        cosines.pop((a, b) if a < b else (b, a), None)
    if not cosines:
        return 0
    ids = {a for a, _ in cosines} | {b for _, b in cosines}
    pages = {
        row.id: row
        for row in await session.execute(
            select(
                Bookmark.id, Bookmark.title, Bookmark.page_title, Bookmark.text, Bookmark.saved_at
            ).where(Bookmark.user_id == user_id, Bookmark.id.in_(ids))
        )
    }
    found = await asyncio.to_thread(_compare_all, cosines, pages)
    for (later, first), comparison in found:
        await session.execute(
            insert(DuplicatePair)
            .values(
                id=uuid.uuid4(),
                user_id=user_id,
                bookmark_id=later,
                original_id=first,
                score=comparison.score,
                cosine=comparison.cosine,
                size_ratio=round(comparison.size_ratio, 4),
                status=OPEN,
                created_at=func.now(),
            )
            .on_conflict_do_nothing()
        )
    return len(found)


def _compare_all(
    cosines: dict[tuple[uuid.UUID, uuid.UUID], float], pages: dict[uuid.UUID, Any]
) -> list[tuple[tuple[uuid.UUID, uuid.UUID], similarity.Comparison]]:
    """The pairs whose texts are the same, each as (saved later, saved first)."""
    shingles: dict[uuid.UUID, frozenset[int]] = {}
    out = []
    for (a, b), cosine in cosines.items():
        pa, pb = pages.get(a), pages.get(b)
        if pa is None or pb is None:
            continue
        for page in (pa, pb):
            if page.id not in shingles:
                shingles[page.id] = similarity.shingles(page.text)
        comparison = similarity.compare(
            cosine, shingles[a], shingles[b], pa.title or pa.page_title, pb.title or pb.page_title
        )
        if comparison.duplicate:
            later, first = (a, b) if (pa.saved_at, a) > (pb.saved_at, b) else (b, a)
            out.append(((later, first), comparison))
    return out


async def scan_ids(session: AsyncSession, user_id: uuid.UUID, after: uuid.UUID | None) -> list:
    """The next batch of the user's embedded bookmarks for a scan, by id."""
    query = select(BookmarkVector.bookmark_id).where(BookmarkVector.user_id == user_id)
    if after is not None:
        query = query.where(BookmarkVector.bookmark_id > after)
    return list(await session.scalars(query.order_by(BookmarkVector.bookmark_id).limit(SCAN_BATCH)))


async def embedded_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(BookmarkVector)
            .where(BookmarkVector.user_id == user_id)
        )
        or 0
    )


# --- listing --------------------------------------------------------------------------------


@dataclass
class Found:
    rows: list[tuple[DuplicatePair, Bookmark, Bookmark]]
    next_cursor: str | None


async def pairs(
    session: AsyncSession,
    user: User,
    *,
    status: str = OPEN,
    bookmark_id: uuid.UUID | None = None,
    pair_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Found:
    """The user's pairs, newest first, each with both bookmarks."""
    later, first = aliased(Bookmark), aliased(Bookmark)
    query = (
        select(DuplicatePair, later, first)
        .join(later, later.id == DuplicatePair.bookmark_id)
        .join(first, first.id == DuplicatePair.original_id)
        .where(DuplicatePair.user_id == user.id, DuplicatePair.status == status)
    )
    if bookmark_id is not None:
        query = query.where(
            or_(DuplicatePair.bookmark_id == bookmark_id, DuplicatePair.original_id == bookmark_id)
        )
    if pair_id is not None:
        query = query.where(DuplicatePair.id == pair_id)
    if cursor:
        after = cursors.decode_created(cursor)
        query = query.where(tuple_(DuplicatePair.created_at, DuplicatePair.id) < tuple_(*after))
    result = await session.execute(
        query.order_by(DuplicatePair.created_at.desc(), DuplicatePair.id.desc()).limit(limit + 1)
    )
    rows = [(pair, later_one, first_one) for pair, later_one, first_one in result]
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = cursors.encode_created(rows[-1][0].created_at, rows[-1][0].id) if more else None
    return Found(rows, next_cursor)


async def get_owned(session: AsyncSession, user: User, pair_id: uuid.UUID) -> DuplicatePair:
    row = await session.scalar(
        select(DuplicatePair).where(DuplicatePair.id == pair_id, DuplicatePair.user_id == user.id)
    )
    if row is None:
        raise NotFound("No such pair of duplicates.", code="duplicate_not_found")
    return row


async def dismiss(session: AsyncSession, pair: DuplicatePair) -> DuplicatePair:
    pair.status = DISMISSED
    await session.flush()
    return pair


# --- merging --------------------------------------------------------------------------------

Mover = Callable[[AsyncSession, uuid.UUID, uuid.UUID, uuid.UUID], Awaitable[None]]


async def _move_tags(
    session: AsyncSession, user_id: uuid.UUID, source: uuid.UUID, target: uuid.UUID
) -> None:
    await session.execute(
        insert(BookmarkTag)
        .from_select(
            ["bookmark_id", "tag_id"],
            select(func.cast(target, BookmarkTag.bookmark_id.type), BookmarkTag.tag_id).where(
                BookmarkTag.bookmark_id == source
            ),
        )
        .on_conflict_do_nothing()
    )


async def _move_highlights(
    session: AsyncSession, user_id: uuid.UUID, source: uuid.UUID, target: uuid.UUID
) -> None:
    # The quote (and its context) finds the passage again in the kept page's text.
    await session.execute(
        update(Highlight)
        .where(Highlight.user_id == user_id, Highlight.bookmark_id == source)
        .values(bookmark_id=target)
        .execution_options(synchronize_session=False)
    )


async def _move_feedback(
    session: AsyncSession, user_id: uuid.UUID, source: uuid.UUID, target: uuid.UUID
) -> None:
    # What the user already said about the kept page in the same context stays as it is.
    kept = aliased(Feedback)
    await session.execute(
        update(Feedback)
        .where(
            Feedback.user_id == user_id,
            Feedback.bookmark_id == source,
            ~exists().where(
                and_(
                    kept.bookmark_id == target,
                    kept.user_id == Feedback.user_id,
                    kept.context_type == Feedback.context_type,
                    kept.context_key == Feedback.context_key,
                    kept.signal == Feedback.signal,
                )
            ),
        )
        .values(bookmark_id=target)
        .execution_options(synchronize_session=False)
    )


async def _move_lists(
    session: AsyncSession, user_id: uuid.UUID, source: uuid.UUID, target: uuid.UUID
) -> None:
    # The kept page joins each list the other was in (the other's entries go with it).
    await session.execute(
        insert(BookmarkListItem)
        .from_select(
            ["list_id", "bookmark_id", "user_id", "added_at"],
            select(
                BookmarkListItem.list_id,
                func.cast(target, BookmarkListItem.bookmark_id.type),
                BookmarkListItem.user_id,
                BookmarkListItem.added_at,
            ).where(BookmarkListItem.bookmark_id == source, BookmarkListItem.user_id == user_id),
        )
        .on_conflict_do_nothing()
    )


# Every relation a user gives a single bookmark, moved by merge() from the page removed to
# the page kept. A relation added to bookmarks adds its mover here.
RELATION_MOVERS: list[Mover] = [_move_tags, _move_highlights, _move_feedback, _move_lists]


async def move_relations(
    session: AsyncSession, user_id: uuid.UUID, source: uuid.UUID, target: uuid.UUID
) -> None:
    """Move what the user attached to `source` (tags, highlights, feedback, and whatever
    RELATION_MOVERS holds) to `target`; what `target` already has is kept."""
    for mover in RELATION_MOVERS:
        await mover(session, user_id, source, target)


def _merge_fields(keep: Bookmark, other: Bookmark) -> None:
    """The user's own words and reading state: nothing they wrote or did is lost, and of
    two states the stronger is kept (favourite, read, further along)."""
    if not keep.title and other.title:
        keep.title = other.title
    notes = [n.strip() for n in (keep.notes, other.notes) if n and n.strip()]
    if len(notes) == 2 and notes[0] != notes[1]:
        keep.notes = f"{notes[0]}\n\n{notes[1]}"
    elif notes:
        keep.notes = notes[0]
    keep.favorite = keep.favorite or other.favorite
    keep.progress = max(keep.progress, other.progress)
    reads = [r for r in (keep.read_at, other.read_at) if r is not None]
    keep.read_at = min(reads) if reads else None
    if keep.archived_at is not None and other.archived_at is None:
        keep.archived_at = None  # one copy was still in the library: so is the merged page
    keep.version += 1


async def merge(
    session: AsyncSession, settings: Settings, user: User, pair: DuplicatePair, keep_id: uuid.UUID
) -> tuple[Bookmark, uuid.UUID]:
    """Keep one page of the pair, move everything of the other to it, delete the other; in
    the request's one transaction. Returns the kept page and the removed page's id."""
    if keep_id not in (pair.bookmark_id, pair.original_id):
        raise Unprocessable("Keep one of the two pages of this pair.", code="not_in_pair")
    other_id = pair.original_id if keep_id == pair.bookmark_id else pair.bookmark_id
    # Both rows locked in one order, so two merges of overlapping pairs cannot deadlock.
    locked = {
        b.id: b
        for b in await session.scalars(
            select(Bookmark)
            .where(Bookmark.user_id == user.id, Bookmark.id.in_([keep_id, other_id]))
            .order_by(Bookmark.id)
            .with_for_update()
        )
    }
    keep, other = locked.get(keep_id), locked.get(other_id)
    if keep is None or other is None:
        raise NotFound("No such pair of duplicates.", code="duplicate_not_found")
    await move_relations(session, user.id, other.id, keep.id)
    _merge_fields(keep, other)
    await session.execute(delete(DuplicatePair).where(DuplicatePair.id == pair.id))
    await bookmarks_service.delete_bookmark(session, settings, other)
    return keep, other_id
