"""Lists: named collections of bookmarks, nested. A bookmark can be in any number of lists;
lists never own bookmarks: deleting a list removes its memberships, never a bookmark.

Deleting a list moves its sub-lists up to its parent (with their bookmarks), as a folder's
contents stay when the folder goes in a file manager that asks; nothing but the list itself
is lost. A sub-list whose name is taken there gets a number: "Reading (2)"."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import Select, delete, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.bookmarks.models import Bookmark
from app.db import utcnow
from app.errors import Conflict, NotFound, Unprocessable
from app.lists.models import MAX_NAME, BookmarkList, BookmarkListItem
from app.lists.schemas import ListOut, ListUpdate
from app.users.models import User

# The bookmarks in each list that has sub-lists, or in any list under it, each once (a list
# without sub-lists has its own count as its total, read apart).
_TOTALS = text(
    """
    WITH RECURSIVE sub(root, id) AS (
        SELECT p.id, p.id FROM lists p
        WHERE p.user_id = :uid AND (CAST(:root AS uuid) IS NULL OR p.id = CAST(:root AS uuid))
          AND EXISTS (SELECT 1 FROM lists c WHERE c.parent_id = p.id)
        UNION ALL
        SELECT sub.root, l.id FROM lists l JOIN sub ON l.parent_id = sub.id
        WHERE l.user_id = :uid
    )
    SELECT sub.root, count(DISTINCT bl.bookmark_id)
    FROM sub JOIN bookmark_lists bl ON bl.list_id = sub.id AND bl.user_id = :uid
    GROUP BY sub.root
    """
)
_DESCENDANTS = text(
    """
    WITH RECURSIVE sub(id) AS (
        SELECT CAST(:root AS uuid)
        UNION ALL
        SELECT l.id FROM lists l JOIN sub ON l.parent_id = sub.id WHERE l.user_id = :uid
    )
    SELECT id FROM sub
    """
)


def not_found() -> NotFound:
    return NotFound("No such list.", code="list_not_found")


def name_taken(name: str) -> Conflict:
    return Conflict(
        f'There is already a list named "{name}" here.',
        code="list_name_taken",
        details={"name": name},
    )


async def get_owned(session: AsyncSession, user: User, list_id: uuid.UUID) -> BookmarkList:
    found = await session.scalar(
        select(BookmarkList).where(BookmarkList.id == list_id, BookmarkList.user_id == user.id)
    )
    if found is None:
        raise not_found()
    return found


async def tree(session: AsyncSession, user: User, only: uuid.UUID | None = None) -> list[ListOut]:
    """Every list of the user's in tree order, with its counts; with `only`, that list alone
    (its counts are all that is computed)."""
    lists = list(await session.scalars(select(BookmarkList).where(BookmarkList.user_id == user.id)))
    if not lists:
        return []
    counting = select(BookmarkListItem.list_id, func.count()).where(
        BookmarkListItem.user_id == user.id
    )
    if only is not None:
        counting = counting.where(BookmarkListItem.list_id == only)
    direct = {
        lid: n for lid, n in await session.execute(counting.group_by(BookmarkListItem.list_id))
    }
    totals = {lid: n for lid, n in await session.execute(_TOTALS, {"uid": user.id, "root": only})}
    children: dict[uuid.UUID | None, list[BookmarkList]] = defaultdict(list)
    for item in lists:
        children[item.parent_id].append(item)
    out: list[ListOut] = []

    def walk(parent: uuid.UUID | None, path: list[str]) -> None:
        for item in sorted(children.get(parent, []), key=lambda x: (x.name.lower(), x.name)):
            here = [*path, item.name]
            if only is None or item.id == only:
                count = int(direct.get(item.id, 0))
                out.append(
                    ListOut(
                        id=item.id,
                        name=item.name,
                        parent_id=item.parent_id,
                        path=here,
                        depth=len(path),
                        count=count,
                        total=int(totals.get(item.id, count)),
                        created_at=item.created_at,
                    )
                )
            walk(item.id, here)

    walk(None, [])
    return out


async def one(session: AsyncSession, user: User, list_id: uuid.UUID) -> ListOut:
    found = await tree(session, user, only=list_id)
    if not found:
        raise not_found()
    return found[0]


async def _save(session: AsyncSession, item: BookmarkList, **changes: object) -> None:
    """Make these changes to the list and flush it; a sibling of the same name is a 409
    (checked by the unique index, so two requests at once cannot both make it)."""
    name = str(changes.get("name", item.name))
    try:
        async with session.begin_nested():
            for key, value in changes.items():
                setattr(item, key, value)
            session.add(item)
            await session.flush()
    except IntegrityError as exc:
        if "uq_lists_user_id_parent_id_name_lower" in str(exc.orig):
            raise name_taken(name) from None
        raise


async def create(
    session: AsyncSession, user: User, name: str, parent_id: uuid.UUID | None
) -> BookmarkList:
    if parent_id is not None:
        await get_owned(session, user, parent_id)
    item = BookmarkList(id=uuid.uuid4(), user_id=user.id, parent_id=parent_id, name=name)
    await _save(session, item)
    return item


async def descendants(session: AsyncSession, user: User, list_id: uuid.UUID) -> list[uuid.UUID]:
    """The list's id and those of every list under it."""
    return list(await session.scalars(_DESCENDANTS, {"root": list_id, "uid": user.id}))


async def update(
    session: AsyncSession, user: User, item: BookmarkList, data: ListUpdate
) -> BookmarkList:
    changes: dict[str, object] = {}
    if "parent_id" in data.model_fields_set and data.parent_id != item.parent_id:
        if data.parent_id is not None:
            await get_owned(session, user, data.parent_id)
            if data.parent_id in await descendants(session, user, item.id):
                raise Unprocessable(
                    "A list cannot move into itself or into one of its own sub-lists.",
                    code="list_cycle",
                )
        changes["parent_id"] = data.parent_id
    if data.name is not None:
        changes["name"] = data.name
    await _save(session, item, **changes)
    return item


async def _free_name(session: AsyncSession, user: User, parent: uuid.UUID | None, name: str) -> str:
    taken = {
        n.lower()
        for n in await session.scalars(
            select(BookmarkList.name).where(
                BookmarkList.user_id == user.id,
                BookmarkList.parent_id.is_(None)
                if parent is None
                else BookmarkList.parent_id == parent,
            )
        )
    }
    if name.lower() not in taken:
        return name
    n = 2
    while True:
        suffix = f" ({n})"
        candidate = name[: MAX_NAME - len(suffix)] + suffix
        if candidate.lower() not in taken:
            return candidate
        n += 1


async def remove(session: AsyncSession, user: User, item: BookmarkList) -> None:
    """Delete the list and its memberships; its sub-lists move up to its parent."""
    children = list(
        await session.scalars(
            select(BookmarkList).where(
                BookmarkList.user_id == user.id, BookmarkList.parent_id == item.id
            )
        )
    )
    for child in sorted(children, key=lambda c: c.name.lower()):
        child.name = await _free_name(session, user, item.parent_id, child.name)
        child.parent_id = item.parent_id
        await session.flush()
    await session.execute(delete(BookmarkList).where(BookmarkList.id == item.id))
    await session.flush()
    session.expunge(item)


async def _owned_bookmarks(
    session: AsyncSession, user: User, ids: Sequence[uuid.UUID]
) -> list[uuid.UUID]:
    wanted = set(ids)
    found = set(
        await session.scalars(
            select(Bookmark.id).where(Bookmark.user_id == user.id, Bookmark.id.in_(wanted))
        )
    )
    if found != wanted:
        raise NotFound(
            "No such bookmark.",
            code="bookmark_not_found",
            details={"bookmark_ids": sorted(str(i) for i in wanted - found)},
        )
    return sorted(found)


async def add(
    session: AsyncSession, user: User, item: BookmarkList, ids: Sequence[uuid.UUID]
) -> int:
    """Put these bookmarks (all the user's, or a 404 and nothing changes) in the list."""
    owned = await _owned_bookmarks(session, user, ids)
    now = utcnow()
    result = await session.execute(
        pg_insert(BookmarkListItem)
        .values(
            [
                {"list_id": item.id, "bookmark_id": b, "user_id": user.id, "added_at": now}
                for b in owned
            ]
        )
        .on_conflict_do_nothing()
        .returning(BookmarkListItem.bookmark_id)
    )
    return len(result.all())


async def take_out(
    session: AsyncSession, user: User, item: BookmarkList, ids: Sequence[uuid.UUID]
) -> int:
    """Take these bookmarks out of the list (they stay in the library)."""
    owned = await _owned_bookmarks(session, user, ids)
    result = await session.execute(
        delete(BookmarkListItem)
        .where(
            BookmarkListItem.user_id == user.id,
            BookmarkListItem.list_id == item.id,
            BookmarkListItem.bookmark_id.in_(owned),
        )
        .returning(BookmarkListItem.bookmark_id)
    )
    return len(result.all())


async def scope(
    session: AsyncSession, user: User, list_id: uuid.UUID, sublists: bool
) -> list[uuid.UUID]:
    """The list ids a `list` filter means: the list (404 if not the user's), and with
    `sublists` every list under it."""
    await get_owned(session, user, list_id)
    return await descendants(session, user, list_id) if sublists else [list_id]


def members(list_ids: Iterable[uuid.UUID]) -> Select[tuple[uuid.UUID]]:
    """The bookmark ids in any of these lists, as a subquery for `Bookmark.id.in_()`."""
    return select(BookmarkListItem.bookmark_id).where(BookmarkListItem.list_id.in_(list(list_ids)))


async def lists_of(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """{bookmark id: the ids of the lists it is in}."""
    out: dict[uuid.UUID, list[uuid.UUID]] = {i: [] for i in ids}
    if ids:
        rows = await session.execute(
            select(BookmarkListItem.bookmark_id, BookmarkListItem.list_id)
            .where(BookmarkListItem.bookmark_id.in_(list(ids)))
            .order_by(BookmarkListItem.added_at, BookmarkListItem.list_id)
        )
        for bid, lid in rows:
            out[bid].append(lid)
    return out


async def paths_of(
    session: AsyncSession, user_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[list[str]]]:
    """{bookmark id: the path (names from the top) of each list it is in}, for exports."""
    if not ids:
        return {}
    held = await lists_of(session, ids)
    if not any(held.values()):
        return {i: [] for i in ids}
    rows = list(await session.execute(
        select(BookmarkList.id, BookmarkList.parent_id, BookmarkList.name).where(
            BookmarkList.user_id == user_id
        )
    ))  # fmt: skip
    parent = {i: p for i, p, _ in rows}
    name = {i: n for i, _, n in rows}

    def path(lid: uuid.UUID) -> list[str]:
        out: list[str] = []
        at: uuid.UUID | None = lid
        while at is not None and len(out) <= len(rows):
            out.append(name[at])
            at = parent[at]
        return out[::-1]

    return {bid: [path(lid) for lid in lids] for bid, lids in held.items()}


async def file_into(
    session: AsyncSession, user: User, found: list[tuple[uuid.UUID, list[list[str]]]]
) -> None:
    """Imported folders: each (bookmark id, folder paths) puts the bookmark in the list of
    each path, making the lists that are missing. A list is found by its name among its
    siblings (in any case), so importing the same file again makes no second list and
    no second membership."""
    wanted = {tuple(p) for _, paths in found for p in paths if p}
    if not wanted:
        return
    known: dict[tuple[uuid.UUID | None, str], uuid.UUID] = {
        (p, n.lower()): i
        for i, p, n in await session.execute(
            select(BookmarkList.id, BookmarkList.parent_id, BookmarkList.name).where(
                BookmarkList.user_id == user.id
            )
        )
    }
    by_path: dict[tuple[str, ...], uuid.UUID] = {}
    for path in sorted(wanted, key=lambda p: (len(p), p)):
        parent: uuid.UUID | None = None
        for depth, raw in enumerate(path):
            name = " ".join(raw.split())[:MAX_NAME] or "Untitled"
            key = (parent, name.lower())
            if key not in known:
                # Another import may make the same list at the same moment: the unique index
                # keeps one, and this one is read back.
                await session.execute(
                    pg_insert(BookmarkList)
                    .values(
                        id=uuid.uuid4(),
                        user_id=user.id,
                        parent_id=parent,
                        name=name,
                        created_at=utcnow(),
                    )
                    .on_conflict_do_nothing()
                )
                known[key] = await session.scalar(
                    select(BookmarkList.id).where(
                        BookmarkList.user_id == user.id,
                        BookmarkList.parent_id.is_(None)
                        if parent is None
                        else BookmarkList.parent_id == parent,
                        func.lower(BookmarkList.name) == name.lower(),
                    )
                )  # type: ignore[assignment]
            parent = known[key]
            by_path[path[: depth + 1]] = parent
    now = utcnow()
    rows = sorted(
        {
            (by_path[tuple(p)], bid)
            for bid, paths in found
            for p in paths
            if p and tuple(p) in by_path
        }
    )
    if rows:
        await session.execute(
            pg_insert(BookmarkListItem)
            .values(
                [{"list_id": lid, "bookmark_id": bid, "user_id": user.id, "added_at": now}
                 for lid, bid in rows]
            )
            .on_conflict_do_nothing()
        )  # fmt: skip
