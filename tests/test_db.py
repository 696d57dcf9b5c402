"""The session dependency commits once, and jobs enqueued in a request leave only after it."""

from __future__ import annotations

import httpx
import numpy as np
from fastapi import FastAPI
from sqlalchemy import func, select

from app.db import bind_system, enqueue_after_commit
from app.deps import SessionDep
from app.errors import Conflict, install_error_handlers
from app.users.models import User


def _probe_app(app: FastAPI) -> FastAPI:
    probe = FastAPI()
    probe.state = app.state
    install_error_handlers(probe)
    seen: dict[str, int] = {}

    @probe.post("/ok")
    async def ok(session: SessionDep) -> dict[str, int]:
        await bind_system(session)  # as sign-up does
        session.add(User(username="jobber", email="j@example.com", password_hash="x"))
        await session.flush()
        enqueue_after_commit(session, "ping", _job_id="probe-ok")
        # Not yet: the transaction has not committed.
        seen["queued_during_request"] = len(await app.state.redis.queued_jobs())
        return seen

    @probe.post("/fails")
    async def fails(session: SessionDep) -> None:
        await bind_system(session)
        session.add(User(username="ghost", email="g@example.com", password_hash="x"))
        await session.flush()
        enqueue_after_commit(session, "ping", _job_id="probe-fails")
        raise Conflict("no")

    return probe


async def test_jobs_are_sent_after_commit_and_never_after_a_rollback(app, db, redis):
    probe = _probe_app(app)
    transport = httpx.ASGITransport(app=probe, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.post("/ok")
        assert r.status_code == 200 and r.json()["queued_during_request"] == 0
        queued = await redis.queued_jobs()
        assert [j.job_id for j in queued] == ["probe-ok"]

        r = await c.post("/fails")
        assert r.status_code == 409
        assert [j.job_id for j in await redis.queued_jobs()] == ["probe-ok"]

    count = await db.scalar(
        select(func.count()).select_from(User).where(User.username.in_(["jobber", "ghost"]))
    )
    assert count == 1  # the failed request's row was rolled back


async def test_the_embedded_server_keeps_a_quarter_of_memory_for_its_buffers(db):
    # Searches walk the HNSW index at random: the embedded PostgreSQL is started with
    # shared buffers sized to the machine (app.embedded.shared_buffers_mb), not a fixed 256 MB.
    from sqlalchemy import text

    from app.embedded import shared_buffers_mb

    size = (
        await db.execute(
            text("SELECT setting::bigint * 8192 FROM pg_settings WHERE name = 'shared_buffers'")
        )
    ).scalar_one()
    assert size == shared_buffers_mb() * 2**20
    assert 256 <= shared_buffers_mb() <= 8192


async def test_upgrading_moves_saved_vectors_to_the_per_user_table_and_back(stack):
    """A server upgraded from before the vectors were partitioned by user keeps every page's
    vector (what search and recommendations read), and a downgrade puts them back."""
    import asyncio
    import secrets

    import asyncpg

    from alembic import command
    from app.cli import alembic_config

    name = f"fuze_upgrade_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(stack.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = stack.database_url.rsplit("/", 1)[0] + "/" + name
    config = alembic_config(url)

    def parse(text: str) -> list[float]:
        return [float(x) for x in text.strip("[]").split(",")]

    try:
        await asyncio.to_thread(command.upgrade, config, "d1e2f3a4b5c6")
        conn = await asyncpg.connect(url)
        try:
            users = [await conn.fetchval(
                "INSERT INTO users (id, username, email, password_hash, created_at, updated_at)"
                " VALUES (gen_random_uuid(), $1::text, $1::text || '@example.com', '-', now(), now())"
                " RETURNING id", f"u{i}",
            ) for i in range(3)]  # fmt: skip
            vectors = {}
            for i, user in enumerate(users):
                for j in range(4):
                    vec = [0.0] * 384
                    vec[i * 4 + j] = 1.0
                    bid = await conn.fetchval(
                        "INSERT INTO bookmarks (id, user_id, url, normalized_url, status, embedding,"
                        " saved_at, updated_at, status_changed_at) VALUES (gen_random_uuid(), $1,"
                        " $2, $2, 'ready', $3::vector, now(), now(), now()) RETURNING id",
                        user, f"https://example.com/{i}/{j}", str(vec),
                    )  # fmt: skip
                    vectors[bid] = (user, vec)
            # A page still being processed has no vector yet.
            await conn.execute(
                "INSERT INTO bookmarks (id, user_id, url, normalized_url, status, saved_at,"
                " updated_at, status_changed_at) VALUES (gen_random_uuid(), $1, 'https://p.example',"
                " 'https://p.example', 'pending', now(), now(), now())",
                users[0],
            )
            await asyncio.to_thread(command.upgrade, config, "head")
            moved = {
                r["bookmark_id"]: (r["user_id"], parse(r["e"]))
                for r in await conn.fetch(
                    "SELECT bookmark_id, user_id, embedding::text AS e FROM bookmark_vectors"
                )
            }
            assert moved == vectors
            columns = await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'bookmarks'"
            )
            assert "embedding" not in {c["column_name"] for c in columns}
            # Each user's nearest page comes from that user's own rows, by the index.
            for i, user in enumerate(users):
                probe = [0.0] * 384
                probe[i * 4 + 2] = 1.0
                async with conn.transaction():
                    await conn.execute("SET LOCAL enable_seqscan = off")
                    nearest = await conn.fetchval(
                        "SELECT bookmark_id FROM bookmark_vectors WHERE user_id = $1"
                        " ORDER BY embedding <=> $2::vector LIMIT 1",
                        user, str(probe),
                    )  # fmt: skip
                assert vectors[nearest] == (user, probe)

            await asyncio.to_thread(command.downgrade, config, "d1e2f3a4b5c6")
            back = {
                r["id"]: (r["user_id"], parse(r["e"]))
                for r in await conn.fetch(
                    "SELECT id, user_id, embedding::text AS e FROM bookmarks"
                    " WHERE embedding IS NOT NULL"
                )
            }
            assert back == vectors
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def test_a_new_users_search_beside_a_large_library_reads_only_their_own_rows(stack):
    """Prepared statements are planned for the user at hand (app.db.SERVER_SETTINGS): a plan
    made once for every user (plan_cache_mode = force_generic_plan fails this test) reads a
    new user's rows the way it reads a large library's, by scanning the whole partition."""
    import asyncpg

    from app.db import SERVER_SETTINGS
    from app.search.service import vector_text

    conn = await asyncpg.connect(stack.database_url, server_settings=dict(SERVER_SETTINGS))
    tr = conn.transaction()
    await tr.start()
    try:
        big, new = await conn.fetchrow(
            "WITH p AS (SELECT gen_random_uuid() AS u FROM generate_series(1, 2000))"
            " SELECT a.u, b.u FROM p a, p b WHERE a.u <> b.u"
            " AND satisfies_hash_partition('bookmark_vectors'::regclass, 16, 0, a.u)"
            " AND satisfies_hash_partition('bookmark_vectors'::regclass, 16, 0, b.u) LIMIT 1"
        )
        for i, user in enumerate((big, new)):
            await conn.execute(
                "INSERT INTO users (id, username, email, password_hash, created_at, updated_at)"
                " VALUES ($1, $2::text, $2::text || '@example.com', '-', now(), now())",
                user, f"plan{i}",
            )  # fmt: skip
        await conn.execute(
            "INSERT INTO bookmarks (id, user_id, url, normalized_url, status, saved_at,"
            " updated_at, status_changed_at) SELECT gen_random_uuid(), $1,"
            " 'https://l.example/' || i, 'https://l.example/' || i, 'ready', now(), now(), now()"
            " FROM generate_series(1, 3000) i",
            big,
        )
        probe = vector_text(np.ones(384, dtype=np.float32) / np.sqrt(384))
        await conn.execute(
            "INSERT INTO bookmark_vectors (bookmark_id, user_id, embedding)"
            " SELECT id, user_id, $2::vector FROM bookmarks WHERE user_id = $1",
            big, probe,
        )  # fmt: skip
        await conn.execute("ANALYZE bookmark_vectors")
        await conn.execute(
            "PREPARE own(uuid, vector) AS SELECT bookmark_id FROM bookmark_vectors"
            " WHERE user_id = $1 ORDER BY (embedding <=> $2) + 0 LIMIT 100"
        )
        for _ in range(8):  # the library's owner searches, again and again
            await conn.execute(f"EXECUTE own('{big}', '{probe}')")
        plan = "\n".join(
            r[0] for r in await conn.fetch(f"EXPLAIN (COSTS OFF) EXECUTE own('{new}', '{probe}')")
        )
        assert "Seq Scan" not in plan, plan
        assert "pkey" in plan, plan
    finally:
        await tr.rollback()
        await conn.close()


async def test_a_keyword_search_on_its_generic_plan_reads_the_users_terms_by_key(stack):
    """keyword_fast runs the postings statement on a generic plan, made for no query in
    particular: it must still look each word up by key and find what a plan made for the
    query finds. Written as a plain join, the look-up became a hash join over a scan of all
    3,000 of this user's terms, for a query of one word."""
    import asyncpg

    from app.db import SERVER_SETTINGS
    from app.search import service

    conn = await asyncpg.connect(stack.database_url, server_settings=dict(SERVER_SETTINGS))
    tr = conn.transaction()
    await tr.start()
    try:
        user = await conn.fetchval(
            "INSERT INTO users (id, username, email, password_hash, created_at, updated_at)"
            " VALUES (gen_random_uuid(), 'terms', 'terms@example.com', '-', now(), now())"
            " RETURNING id"
        )
        await conn.execute(
            "INSERT INTO search_terms (user_id, lexeme, ndoc)"
            " SELECT $1, 'word' || i, 1 + i % 50 FROM generate_series(1, 3000) i",
            user,
        )
        await conn.execute(
            "INSERT INTO search_stats (user_id, ndocs, total_length) VALUES ($1, 400, 40000)", user
        )
        await conn.execute(
            "INSERT INTO search_postings (user_id, lexeme, bookmark_id, impact)"
            " SELECT $1, 'word' || (i % 3000 + 1), gen_random_uuid(), random()"
            " FROM generate_series(1, 6000) i",
            user,
        )
        await conn.execute("ANALYZE search_terms")
        await conn.execute("ANALYZE search_postings")
        types = {"words": "text[]", "uid": "uuid", "prefix": "bool"}
        params = ", ".join(types.get(name, "int") for name in service._POSTINGS_ARGS)
        await conn.execute(f"PREPARE kw({params}) AS {service._POSTINGS_RANKED}")
        values = service._postings_values(user, "word17", True, service.POSTINGS_PER_WORD)
        assert values is not None
        values["limit"] = 100
        args = ", ".join(
            f"'{{{','.join(v)}}}'" if isinstance(v, list) else f"'{v}'"
            for v in (values[name] for name in service._POSTINGS_ARGS)
        )
        found = {}
        for mode in ("force_custom_plan", "force_generic_plan"):
            await conn.execute(f"SET plan_cache_mode = {mode}")
            found[mode] = [tuple(r) for r in await conn.fetch(f"EXECUTE kw({args})")]
        plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN (COSTS OFF) EXECUTE kw({args})"))
        assert "Generic Plan" in plan or "$2" in plan, plan  # the plan made for no values
        assert "Seq Scan" not in plan and "Hash Join" not in plan, plan
        # word17 and the words it begins (word170..word179, the completions of a prefix).
        assert found["force_generic_plan"] == found["force_custom_plan"]
        assert len(found["force_custom_plan"]) > 2
    finally:
        await tr.rollback()
        await conn.close()


async def test_a_query_vector_reaches_pgvector_as_exactly_the_float32_values_encoded(stack):
    """vector_text writes nine significant digits: each float32 must come back bit for bit,
    or a search would rank by a slightly different query than the one encoded."""
    import asyncpg

    from app.search.service import vector_text

    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((50, 384)).astype(np.float32)
    vectors[0] = np.float32(1e-30)  # tiny values too, and a few exact ones
    vectors[1, :4] = (0.1, -0.5, 1.0, 3.4028235e38)
    conn = await asyncpg.connect(stack.database_url)
    try:
        for vector in vectors:
            raw = await conn.fetchval("SELECT vector_send($1::vector)", vector_text(vector))
            assert np.array_equal(np.frombuffer(raw, dtype=">f4", offset=4), vector)
    finally:
        await conn.close()


async def test_the_read_pool_plans_generic_statements_once_and_the_rest_for_their_values(stack):
    """ReadPool.fetch(generic=True) runs on a generic plan and every other statement on one
    made for its values (the test above); each connection switches only when the next
    statement wants the other, and keeps the user it was set to."""
    import uuid

    from app.db import ReadPool
    from tests.conftest import make_settings

    reads = ReadPool(make_settings(stack, db_pool_size=1))
    sql = "SELECT current_setting('plan_cache_mode'), current_setting('fuze.user_id')"
    user = uuid.uuid4()
    try:
        for generic in (True, False, False, True, True, False):
            row = await reads.fetchrow(sql, user=user, generic=generic)
            mode = "force_generic_plan" if generic else "force_custom_plan"
            assert tuple(row) == (mode, str(user)), (generic, tuple(row))
        other = uuid.uuid4()
        assert tuple(await reads.fetchrow(sql, user=other, generic=True)) == (
            "force_generic_plan",
            str(other),
        )
    finally:
        await reads.close()


async def test_the_hot_trigger_functions_keep_their_generic_plans(stack):
    """Migration c2d4e6f8a0b2: re-creating one of these functions (CREATE OR REPLACE) drops
    its settings, and every save would re-plan its statements again."""
    import asyncpg

    conn = await asyncpg.connect(stack.database_url)
    try:
        rows = await conn.fetch(
            "SELECT proname, proconfig FROM pg_proc WHERE proname = ANY($1::text[])",
            ["fuze_search_stats", "fuze_bump_data_version", "fuze_bookmark_tags_changed",
             "fuze_highlights_changed"],
        )  # fmt: skip
        assert len(rows) == 4
        for name, config in rows:
            assert "plan_cache_mode=force_generic_plan" in (config or []), (name, config)
    finally:
        await conn.close()


async def test_a_keyed_sessions_transactions_run_on_generic_plans_and_no_other(stack):
    """app.db.KEYED: a session opened with it plans its statements once (the pipeline's jobs,
    which find rows by key); the setting ends with its transaction, so the connection goes back
    to the pool planning for values as before."""
    import uuid

    from sqlalchemy import text

    from app.db import KEYED, bind_user, create_engine, create_sessionmaker
    from tests.conftest import make_settings

    engine = create_engine(make_settings(stack), pool_size=1, max_overflow=0)
    sessions = create_sessionmaker(engine)
    mode = text("SELECT current_setting('plan_cache_mode')")
    try:
        for info, expected in ((KEYED, "force_generic_plan"), ({}, "force_custom_plan")):
            for bind in (False, True):
                async with sessions(info=info) as session:
                    if bind:
                        await bind_user(session, uuid.uuid4())
                    assert await session.scalar(mode) == expected, (info, bind)
                    await session.commit()
                    # A second transaction of the same session, after the first ended.
                    assert await session.scalar(mode) == expected, (info, bind)
    finally:
        await engine.dispose()


async def test_a_pooled_connection_the_server_ended_is_replaced_before_use(stack):
    """FUZE_DB_POOL_PRE_PING: a connection the server closed while it sat in the ORM's pool (a
    restart, a failover, a terminated backend) is replaced when a session takes it, so the
    session's statement runs instead of failing on a dead connection."""
    import asyncio
    import time

    import asyncpg
    from sqlalchemy import text

    from app.db import create_engine, create_sessionmaker
    from tests.conftest import make_settings

    engine = create_engine(make_settings(stack), pool_size=1, max_overflow=0)
    sessions = create_sessionmaker(engine)
    backend = text("SELECT pg_backend_pid()")
    try:
        async with sessions() as session:
            pid = await session.scalar(backend)
            raw = await (await session.connection()).get_raw_connection()
            driver = raw.driver_connection
        owner = await asyncpg.connect(stack.database_url)
        try:
            assert await owner.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await owner.close()
        deadline = time.monotonic() + 60
        while not driver.is_closed():  # the event loop reads the server's goodbye
            assert time.monotonic() < deadline, "the driver never saw its connection close"
            await asyncio.sleep(0.05)
        for _ in range(2):  # right away, and again on the replacement
            async with sessions() as session:
                assert await session.scalar(backend) not in (None, pid)
    finally:
        await engine.dispose()


async def test_a_pooled_connection_dropped_silently_is_replaced_after_its_ping(stack, monkeypatch):
    """FUZE_DB_POOL_PRE_PING: a connection idle in the pool that a firewall or NAT dropped
    without closing it never answers; its ping gives up (PING_TIMEOUT_SECONDS), and the pool
    replaces it, so the session's statement runs on a new connection instead of hanging."""
    import asyncio
    from urllib.parse import urlsplit, urlunsplit

    from sqlalchemy import text

    import app.db
    from app.db import create_engine, create_sessionmaker
    from tests.conftest import make_settings

    target = urlsplit(stack.database_url)
    pairs: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []
    silent: set[int] = set()  # the connections (by index) that relay nothing any more

    async def relay(index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        while data := await reader.read(65536):
            if index not in silent:
                writer.write(data)
                await writer.drain()
        if index not in silent:
            writer.close()  # the other side's goodbye goes through too

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(target.hostname, target.port)
        index = len(pairs)
        pairs.append((writer, up_writer))
        await asyncio.gather(
            relay(index, reader, up_writer), relay(index, up_reader, writer),
            return_exceptions=True,
        )  # fmt: skip

    proxy = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = proxy.sockets[0].getsockname()[1]
    via_proxy = urlunsplit(
        target._replace(netloc=f"{target.netloc.rsplit('@', 1)[0]}@127.0.0.1:{port}")
    )
    monkeypatch.setattr(app.db, "PING_IDLE_SECONDS", 0.0)  # every checkout after the first pings
    monkeypatch.setattr(app.db, "PING_TIMEOUT_SECONDS", 2.0)
    engine = create_engine(make_settings(stack), url=via_proxy, pool_size=1, max_overflow=0)
    sessions = create_sessionmaker(engine)
    backend = text("SELECT pg_backend_pid()")
    try:
        async with sessions() as session:
            pid = await session.scalar(backend)
        assert len(pairs) == 1
        silent.add(0)  # dropped: open at both ends, and nothing goes through

        async def again() -> int | None:
            async with sessions() as session:
                return await session.scalar(backend)

        # Without the check the statement would wait on the dead connection for good.
        assert await asyncio.wait_for(again(), 60) not in (None, pid)
        assert len(pairs) >= 2  # a new connection took its place
    finally:
        await engine.dispose()
        proxy.close()
        for client, upstream in pairs:
            client.close()
            upstream.close()
