"""Tag care: every tag with its count, rename, merge several into one, delete, undo any of
these, and suggestions: tags that are one spelled differently, abbreviations of another, or
close in meaning, and tags used once.

Tags are per user and case-insensitive. Changing them goes through bookmark_tags and tags,
so the triggers keep each bookmark's tags_text (its search vector) right, and each tag's
bookmarks_count, which is applied when the transaction commits: a count inside one (a merge's
answer) is counted, not read from it."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.bookmarks.models import Bookmark, BookmarkTag, Tag
from app.embeddings.service import embed_cached
from app.errors import NotFound
from app.tags.schemas import Changed, Removed, Suggestion, Suggestions, TagCount, Undo
from app.users.models import User

# Tags whose names' embeddings are at least this close are offered as one (all-MiniLM-L6-v2
# on short names: "car" and "automobile" 0.86, "python" and "java" 0.55).
MEANING_FLOOR = 0.8
MEANING_TAGS = 300  # the most used tags compared by meaning


async def counts(
    session: AsyncSession, user: User, q: str | None = None, limit: int = 1000
) -> list[TagCount]:
    """The user's tags with how many bookmarks have each, most used first; with `q`, those
    containing it, the ones starting with it first."""
    count = Tag.bookmarks_count
    query = select(Tag.id, Tag.name, count).where(Tag.user_id == user.id)
    order: list[Any] = [count.desc(), func.lower(Tag.name)]
    if q:
        at = func.strpos(func.lower(Tag.name), q.lower())
        query = query.where(at > 0)
        order.insert(0, (at == 1).desc())
    rows = await session.execute(query.order_by(*order).limit(limit))
    return [TagCount(id=i, name=n, count=int(c)) for i, n, c in rows]


async def _owned(session: AsyncSession, user: User, ids: list[uuid.UUID]) -> list[Tag]:
    rows = list(await session.scalars(select(Tag).where(Tag.user_id == user.id, Tag.id.in_(ids))))
    if len(rows) != len(set(ids)):
        raise NotFound("No such tag.", code="tag_not_found")
    return rows


async def _bookmarks_of(session: AsyncSession, tag_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        await session.scalars(select(BookmarkTag.bookmark_id).where(BookmarkTag.tag_id == tag_id))
    )


async def _by_name(session: AsyncSession, user: User, name: str) -> Tag | None:
    return await session.scalar(
        select(Tag).where(Tag.user_id == user.id, func.lower(Tag.name) == name.lower())
    )


async def _count(session: AsyncSession, tag: Tag) -> TagCount:
    # Counted, not read from bookmarks_count: that is applied when this transaction commits.
    n = await session.scalar(select(func.count()).where(BookmarkTag.tag_id == tag.id))
    return TagCount(id=tag.id, name=tag.name, count=int(n or 0))


async def merge(session: AsyncSession, user: User, ids: list[uuid.UUID], into: str) -> Changed:
    """Every bookmark of these tags gets `into` (an existing tag, in any case, or a new one),
    and these tags go."""
    sources = await _owned(session, user, ids)
    target = await _by_name(session, user, into)
    created = target is None
    if target is None:
        target = Tag(id=uuid.uuid4(), user_id=user.id, name=into)
        session.add(target)
        await session.flush()
    had = set(await _bookmarks_of(session, target.id))
    removed: list[Removed] = []
    touched: set[uuid.UUID] = set()
    for tag in sorted(sources, key=lambda t: t.name.lower()):
        if tag.id == target.id:
            continue
        marked = await _bookmarks_of(session, tag.id)
        removed.append(Removed(name=tag.name, bookmarks=marked))
        touched.update(marked)
        if marked:
            await session.execute(
                pg_insert(BookmarkTag)
                .values([{"bookmark_id": b, "tag_id": target.id} for b in sorted(marked)])
                .on_conflict_do_nothing()
            )
        await session.execute(delete(Tag).where(Tag.id == tag.id))
    await session.flush()
    undo = Undo(removed=removed, into=target.name, added=sorted(touched - had), created=created)
    return Changed(tag=await _count(session, target), bookmarks=len(touched), undo=undo)


async def rename(session: AsyncSession, user: User, tag_id: uuid.UUID, name: str) -> Changed:
    """A new name; the name of another tag merges this one into it."""
    (tag,) = await _owned(session, user, [tag_id])
    other = await _by_name(session, user, name)
    if other is not None and other.id != tag.id:
        return await merge(session, user, [tag.id], other.name)
    old = tag.name
    tag.name = name
    await session.flush()
    marked = await _bookmarks_of(session, tag.id)
    undo = Undo(
        removed=[Removed(name=old, bookmarks=marked)], into=name, added=marked, created=True
    )
    return Changed(
        tag=await _count(session, tag), bookmarks=len(marked) if old != name else 0, undo=undo
    )


async def remove(session: AsyncSession, user: User, tag_id: uuid.UUID) -> Changed:
    """Delete a tag; its bookmarks stay."""
    (tag,) = await _owned(session, user, [tag_id])
    marked = await _bookmarks_of(session, tag.id)
    await session.execute(delete(Tag).where(Tag.id == tag.id))
    await session.flush()
    return Changed(
        tag=None,
        bookmarks=len(marked),
        undo=Undo(removed=[Removed(name=tag.name, bookmarks=marked)]),
    )


async def undo(session: AsyncSession, user: User, data: Undo) -> int:
    """Put back what a merge, rename or delete took away: the removed tags on their
    bookmarks (those of the user's that still exist), and `into` off the bookmarks that got
    it from the merge alone (the tag itself too, if the merge made it and none is left)."""
    mine = set(
        await session.scalars(
            select(Bookmark.id).where(
                Bookmark.user_id == user.id,
                Bookmark.id.in_({b for r in data.removed for b in r.bookmarks} | set(data.added)),
            )
        )
    )
    target = await _by_name(session, user, data.into) if data.into else None
    if target is not None and data.added:
        await session.execute(
            delete(BookmarkTag).where(
                BookmarkTag.tag_id == target.id, BookmarkTag.bookmark_id.in_(data.added)
            )
        )
    restored = 0
    for r in data.removed:
        tag = await _by_name(session, user, r.name)
        if tag is None or (target is not None and tag.id == target.id):
            if target is not None and tag is not None and target.name != r.name:
                tag.name = r.name  # a rename undone: the tag gets its old name back
            elif tag is None:
                tag = Tag(id=uuid.uuid4(), user_id=user.id, name=r.name)
                session.add(tag)
            await session.flush()
        links = [{"bookmark_id": b, "tag_id": tag.id} for b in sorted(set(r.bookmarks) & mine)]
        if links:
            await session.execute(pg_insert(BookmarkTag).values(links).on_conflict_do_nothing())
        restored += len(links)
    if (
        target is not None
        and data.created
        and target.name.lower() not in {r.name.lower() for r in data.removed}
    ):
        left = await session.scalar(select(func.count()).where(BookmarkTag.tag_id == target.id))
        if not left:
            await session.execute(delete(Tag).where(Tag.id == target.id))
    await session.flush()
    return restored


# --- suggestions ------------------------------------------------------------------------------


def _key(name: str) -> str:
    """The same words however spelled: case, separators, a plural s."""
    words = re.findall(r"[a-z0-9+#]+", name.lower())
    return "".join(
        w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words
    )


def _numbers_apart(a: str, b: str) -> bool:
    return re.sub(r"\d+", "#", a.lower()) == re.sub(r"\d+", "#", b.lower())


def _initials(name: str) -> str | None:
    words = re.findall(r"[a-z0-9]+", name.lower())
    return "".join(w[0] for w in words) if len(words) >= 2 else None


async def suggestions(session: AsyncSession, user: User, embedder: Any, redis: Any) -> Suggestions:
    async def embed(names: list[str]) -> list[np.ndarray] | None:
        if embedder is None:
            return None
        try:
            if not embedder.loaded:
                await embedder.load_async()
            return list(
                await asyncio.gather(
                    *(embed_cached(embedder, redis, n, cache="query_vectors") for n in names)
                )
            )
        except Exception:  # no model here: the suggestions by name still stand
            return None

    return await suggest(await counts(session, user), embed)


async def suggest(
    tags: list[TagCount], embed: Callable[[list[str]], Awaitable[list[np.ndarray] | None]]
) -> Suggestions:
    """Groups of tags to merge, most used first, each with why: the same words however
    spelled, one the initials of the other, or names close in meaning (`embed` gives the
    names' vectors, or None without a model); then the tags used once. bench/tag_merge.py
    measures its precision and recall."""
    groups: list[tuple[list[TagCount], str]] = []
    grouped: set[uuid.UUID] = set()
    by_key: dict[str, list[TagCount]] = defaultdict(list)
    for t in tags:
        by_key[_key(t.name)].append(t)
    for same in by_key.values():
        if len(same) > 1:
            groups.append((same, "same words"))
            grouped.update(t.id for t in same)
    short = {t.name.lower(): t for t in tags if t.id not in grouped}
    for t in tags:
        initials = _initials(t.name)
        if t.id in grouped or not initials or initials not in short:
            continue
        other = short[initials]
        if other.id != t.id and other.id not in grouped:
            groups.append(([t, other], "abbreviation"))
            grouped.update((t.id, other.id))
    rest = [t for t in tags if t.id not in grouped][:MEANING_TAGS]
    if len(rest) >= 2 and (vectors := await embed([t.name for t in rest])) is not None:
        groups += _by_meaning(rest, vectors)
    merge = [
        Suggestion(
            tags=sorted(g, key=lambda t: (-t.count, t.name.lower())),
            into=max(g, key=lambda t: (t.count, len(t.name))).name,
            why=why,
        )
        for g, why in groups
    ]
    merge.sort(key=lambda s: -sum(t.count for t in s.tags))
    once = [t for t in tags if t.count == 1 and t.id not in {x.id for s in merge for x in s.tags}]
    return Suggestions(merge=merge, once=once)


def _by_meaning(
    tags: list[TagCount], vectors: list[np.ndarray]
) -> list[tuple[list[TagCount], str]]:
    """Pairs of tags whose names' vectors are at least MEANING_FLOOR close, closest first,
    each tag in one pair at most. Names that differ only in their numbers (python2 and
    python3, web2 and web3) are close to the model and never one thing."""
    m = np.stack([v / (np.linalg.norm(v) or 1.0) for v in vectors])
    sims = m @ m.T
    used: set[int] = set()
    out = []
    for i, j in sorted(
        zip(*np.where(np.triu(sims, 1) >= MEANING_FLOOR), strict=True), key=lambda p: -sims[p]
    ):
        if i in used or j in used or _numbers_apart(tags[int(i)].name, tags[int(j)].name):
            continue
        used.update((int(i), int(j)))
        out.append(([tags[int(i)], tags[int(j)]], "close in meaning"))
    return out
