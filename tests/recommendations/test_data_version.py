"""The per-user data version that keys cached recommendations, on real commits."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg


async def _connect(stack):  # type: ignore[no-untyped-def]
    return await asyncpg.connect(stack.database_url.replace("postgresql+asyncpg", "postgresql"))


async def _user_with_bookmark(conn) -> tuple[uuid.UUID, uuid.UUID]:  # type: ignore[no-untyped-def]
    uid, bid = uuid.uuid4(), uuid.uuid4()
    await conn.execute(
        "INSERT INTO users (id, username, email, password_hash, created_at, updated_at)"
        " VALUES ($1, $2, $3, '-', now(), now())",
        uid, f"dv{uid.hex[:12]}", f"{uid.hex}@example.com",
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO bookmarks (id, user_id, url, normalized_url, status, saved_at, updated_at,"
        " status_changed_at) VALUES ($1, $2, 'https://e.com/', 'https://e.com/', 'pending',"
        " now(), now(), now())",
        bid, uid,
    )  # fmt: skip
    return uid, bid


async def _version(conn, uid) -> int:  # type: ignore[no-untyped-def]
    return await conn.fetchval(
        "SELECT coalesce((SELECT version FROM user_data_versions WHERE user_id = $1), 0)", uid
    )


async def test_one_bump_per_transaction_and_only_for_its_user(stack):
    conn = await _connect(stack)
    try:
        uid, bid = await _user_with_bookmark(conn)
        other, _ = await _user_with_bookmark(conn)
        start, other_start = await _version(conn, uid), await _version(conn, other)
        async with conn.transaction():
            for i in range(5):
                await conn.execute("UPDATE bookmarks SET notes = $2 WHERE id = $1", bid, str(i))
            # Deferred to commit: nothing yet inside the transaction.
            assert await _version(conn, uid) == start
        assert await _version(conn, uid) == start + 1
        assert await _version(conn, other) == other_start
        # A rolled-back change bumps nothing.
        tx = conn.transaction()
        await tx.start()
        await conn.execute("UPDATE bookmarks SET notes = 'x' WHERE id = $1", bid)
        await tx.rollback()
        assert await _version(conn, uid) == start + 1
        await conn.execute("DELETE FROM users WHERE id = ANY($1)", [uid, other])
        assert await _version(conn, uid) == 0
    finally:
        await conn.close()


async def test_deleting_a_user_while_a_job_commits_does_not_deadlock(stack):
    """A job holds a bookmark's row lock and commits (bumping the version) while the user is
    being deleted (users row locked, cascading to that bookmark): both finish."""
    setup, job, admin = await _connect(stack), await _connect(stack), await _connect(stack)
    try:
        uid, bid = await _user_with_bookmark(setup)
        tx = job.transaction()
        await tx.start()
        await job.execute("UPDATE bookmarks SET notes = 'working' WHERE id = $1", bid)
        deleting = asyncio.create_task(admin.execute("DELETE FROM users WHERE id = $1", uid))
        await asyncio.sleep(0.5)  # the delete now waits for the bookmark's row lock
        assert not deleting.done()
        await tx.commit()  # fires the deferred bump: must not wait for the users row
        await asyncio.wait_for(deleting, 10)
        assert await setup.fetchval("SELECT count(*) FROM users WHERE id = $1", uid) == 0
    finally:
        for conn in (setup, job, admin):
            await conn.close()
