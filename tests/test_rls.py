"""Row-level security, the second wall behind each query's `user_id` filter: the app's role
(fuze_app) sees the rows of the user its transaction or read-pool statement is for, and no
one else's, even where a query forgets to ask for them. On committed rows, through the real
engine and read pool (not the tests' shared transaction)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import numpy as np
import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import ApiToken
from app.auth.security import API_TOKEN_PREFIX, token_digest
from app.bookmarks.models import Bookmark, BookmarkTag, BookmarkVector, Tag
from app.db import (
    ReadPool,
    bind_system,
    bind_user,
    create_engine,
    create_sessionmaker,
)
from app.projects.models import Project
from app.search import service as search
from app.users.models import User
from tests.conftest import as_operator, make_settings, owner_engine


@dataclass
class Tenant:
    id: uuid.UUID
    bookmarks: set[uuid.UUID]
    api_token: str


async def _make_tenant(session: AsyncSession, name: str, vector: np.ndarray) -> Tenant:
    user = User(id=uuid.uuid4(), username=f"rls-{name}-{uuid.uuid4().hex[:6]}", password_hash="-")
    user.email = f"{user.username}@example.com"
    pages = [
        Bookmark(
            id=uuid.uuid4(),
            user_id=user.id,
            url=f"https://{name}.example/{i}",
            normalized_url=f"https://{name}.example/{i}",
            title=f"{name} page {i}",
            status="ready",
        )
        for i in range(3)
    ]
    tag = Tag(id=uuid.uuid4(), user_id=user.id, name="same-name")
    token = API_TOKEN_PREFIX + uuid.uuid4().hex
    session.add(user)
    await session.flush()
    session.add_all([*pages, tag])
    await session.flush()
    session.add_all(
        [BookmarkVector(bookmark_id=p.id, user_id=user.id, embedding=vector) for p in pages]
        + [
            BookmarkTag(bookmark_id=pages[0].id, tag_id=tag.id),
            Project(user_id=user.id, title=f"{name}'s project"),
            ApiToken(user_id=user.id, name="cli", prefix=token[:8], token_hash=token_digest(token)),
        ]
    )
    await session.flush()
    return Tenant(user.id, {p.id for p in pages}, token)


@pytest.fixture
async def tenants(stack) -> AsyncIterator[tuple[Tenant, Tenant]]:  # type: ignore[no-untyped-def]
    """Two users with pages, vectors (the same vector: each is the other's nearest), tags of
    the same name, a project and an API token, committed by the tables' owner."""
    owner = owner_engine(stack)
    vector = np.random.default_rng(7).standard_normal(384).astype(np.float32)
    async with AsyncSession(owner) as session:
        pair = (
            await _make_tenant(session, "ann", vector),
            await _make_tenant(session, "ben", vector),
        )
        await session.commit()
    yield pair
    async with owner.begin() as conn:
        await conn.execute(delete(User).where(User.id.in_([t.id for t in pair])))
    await owner.dispose()


@pytest.fixture
async def app_db(stack):  # type: ignore[no-untyped-def]
    """The engine and read pool as the API and workers make them (the app's role)."""
    settings = make_settings(stack, db_pool_size=1)
    engine = create_engine(settings, pool_size=1, max_overflow=0)
    reads = ReadPool(settings)
    yield engine, reads
    await reads.close()
    await engine.dispose()


async def test_the_app_acts_as_a_role_that_owns_no_table_and_may_not_bypass_policies(app_db):
    engine, _ = app_db
    async with engine.connect() as conn:
        role = (
            await conn.execute(
                text(
                    "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles"
                    " WHERE rolname = current_user"
                )
            )
        ).one()
        owned = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = current_user"
            )
        )
    assert tuple(role) == ("fuze_app", False, False)
    assert owned == 0


async def test_every_table_of_users_rows_has_a_policy(app_db):
    """A table added later with a user_id column and no policy fails here."""
    engine, _ = app_db
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT c.relname, c.relrowsecurity,"
                    " (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)"
                    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
                    " AND NOT c.relispartition AND c.relname <> 'alembic_version'"
                )
            )
        ).all()
    unprotected = [name for name, enabled, policies in rows if not (enabled and policies)]
    assert len(rows) >= 20 and unprotected == []


async def test_a_query_without_its_user_filter_sees_and_touches_only_its_users_rows(
    app_db, tenants
):
    engine, _ = app_db
    ann, ben = tenants
    maker = create_sessionmaker(engine)
    async with maker() as session:
        await bind_user(session, ann.id)
        # No `WHERE user_id = ...` anywhere below.
        assert set(await session.scalars(select(Bookmark.id))) >= ann.bookmarks
        assert not set(await session.scalars(select(Bookmark.id))) & ben.bookmarks
        assert set(await session.scalars(select(User.id))) == {ann.id}
        assert set(await session.scalars(select(Tag.user_id))) == {ann.id}
        tagged = set(await session.scalars(select(BookmarkTag.bookmark_id)))
        assert tagged and tagged <= ann.bookmarks
        assert set(await session.scalars(select(BookmarkVector.user_id))) == {ann.id}
        assert set(await session.scalars(select(Project.user_id))) == {ann.id}
        # Another user's rows are out of reach, by id too.
        victim = next(iter(ben.bookmarks))
        assert await session.get(Bookmark, victim) is None
        changed = await session.execute(
            Bookmark.__table__.update().where(Bookmark.id == victim).values(title="pwned")
        )
        assert changed.rowcount == 0
        gone = await session.execute(delete(Bookmark).where(Bookmark.id == victim))
        assert gone.rowcount == 0
        await session.commit()
    # A row written for someone else is refused outright.
    async with maker() as session:
        await bind_user(session, ann.id)
        session.add(Bookmark(user_id=ben.id, url="https://x.example/", normalized_url="x"))
        with pytest.raises(DBAPIError) as refused:
            await session.flush()
        assert isinstance(refused.value.orig.__cause__, asyncpg.InsufficientPrivilegeError)
    # A session that says for no one sees nothing; the system scope sees both.
    async with maker() as session:
        assert await session.scalar(select(func.count()).select_from(Bookmark)) == 0
        assert await session.scalar(select(func.count()).select_from(User)) == 0
    async with maker() as session:
        await bind_system(session)
        both = set(await session.scalars(select(Bookmark.id)))
        assert ann.bookmarks | ben.bookmarks <= both
    async with as_operator(engine) as conn:
        title = await conn.scalar(select(Bookmark.title).where(Bookmark.id == victim))
    assert title != "pwned"


async def test_a_scope_set_after_the_transaction_began_applies_at_once(app_db, tenants):
    engine, _ = app_db
    ann, ben = tenants
    async with create_sessionmaker(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(Bookmark)) == 0
        await bind_user(session, ben.id)
        assert set(await session.scalars(select(Bookmark.id))) == ben.bookmarks
        await bind_user(session, ann.id)
        assert set(await session.scalars(select(Bookmark.id))) == ann.bookmarks


async def test_searchs_statement_with_its_user_filter_removed_finds_only_the_users_pages(
    app_db, tenants
):
    """The nearest-pages statement (both users' pages are equally near) through the read
    pool, whose one connection alternates between the two users."""
    _, reads = app_db
    ann, ben = tenants
    unfiltered = search._NEAREST.replace("WHERE user_id = $1", "WHERE $1::uuid IS NOT NULL")
    assert unfiltered != search._NEAREST
    vector = search.vector_text(np.ones(384, dtype=np.float32))
    for tenant in (ann, ben, ann, ben):
        rows = await reads.fetch(unfiltered, tenant.id, vector, 50, user=tenant.id)
        assert {r[0] for r in rows} == tenant.bookmarks
    count = "SELECT count(*) FROM bookmarks"
    assert (await reads.fetchrow(count, user=ann.id))[0] == len(ann.bookmarks)


async def test_an_api_token_finds_its_owner_and_makes_them_the_connections_user(app_db, tenants):
    """The one lookup across users the read pool makes (a token names no user), through a
    SECURITY DEFINER function; the connection then reads as the token's owner."""
    from app.auth.service import _USER_BY_API_TOKEN

    _, reads = app_db
    ann, ben = tenants
    row = await reads.fetch_owner(_USER_BY_API_TOKEN, token_digest(ben.api_token))
    assert uuid.UUID(bytes=row["id"].bytes) == ben.id
    assert await reads.fetch_owner(_USER_BY_API_TOKEN, token_digest("fza_nobody")) is None
    pool = await reads._get()
    async with pool.acquire() as conn:
        # What the pool remembers is what the server holds.
        assert conn.scope is not None and conn.scope.user_id == ben.id
        assert await conn.fetchval("SELECT current_setting('fuze.user_id')") == str(ben.id)
        seen = {r[0] for r in await conn.fetch("SELECT id FROM bookmarks")}
    assert seen == ben.bookmarks
    # Called directly by the app's role, nothing else of the table is reachable.
    rows = await reads.fetch("SELECT token_hash FROM api_tokens", user=ann.id)
    assert [r[0] for r in rows] == [token_digest(ann.api_token)]


async def test_the_full_text_index_still_serves_a_users_web_search_syntax(app_db, tenants):
    """Under the policies PostgreSQL runs a user's condition before the policy's only if it
    is leakproof; the migrations mark the full-text match so (as a superuser), or the search
    of quotes, `or` and `-word` (app.search.service._index_matches) would read every one of
    the user's pages instead of the index."""
    engine, _ = app_db
    ann, _ = tenants
    async with create_sessionmaker(engine)() as session:
        await bind_user(session, ann.id)
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            await session.scalars(
                text(
                    "EXPLAIN SELECT id FROM bookmarks"
                    " WHERE search_vector @@ websearch_to_tsquery('english', :q)"
                ),
                {"q": '"ann page" -zebra'},
            )
        )
        found = await session.scalars(
            select(Bookmark.id).where(
                Bookmark.search_vector.op("@@")(func.websearch_to_tsquery("english", "ann page"))
            )
        )
        assert set(found) == ann.bookmarks
    assert "ix_bookmarks_search_vector" in plan, plan
