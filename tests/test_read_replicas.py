"""Read replicas (app.db.ReadPool, app.replicas) against a real streaming standby of the test
PostgreSQL: read-after-write while the standby's replay is paused, a standby that stops, and
one that falls behind the lag bound. Which server answered is read from ReadPool.stats()."""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from app.db import ReadPool, bind_system, create_engine, create_sessionmaker
from app.embedded import EmbeddedStandby
from app.main import create_app
from app.users.models import User
from tests.conftest import Account, Stack, make_settings, owner_engine, register_and_login, wait_for


@pytest.fixture(scope="module")
def standby(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStandby]:
    if stack.postgres is None:
        pytest.skip("needs the embedded test PostgreSQL (FUZE_TEST_DATABASE_URL is set)")
    server = EmbeddedStandby(
        stack.postgres, tmp_path_factory.mktemp("standby"), number=random.randrange(10**6)
    )
    server.start(timeout=180)
    yield server
    server.drop()


def standby_url(stack: Stack, server: EmbeddedStandby) -> str:
    return server.url(stack.database_url.rsplit("/", 1)[1])


async def query(url: str, sql: str) -> Any:
    """One value, as the tables' owner (a superuser: it may pause the standby's replay)."""
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def caught_up(stack: Stack, url: str) -> None:
    """Wait until the standby has replayed everything the primary has written so far."""
    target = await query(stack.database_url, "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")

    async def replayed() -> bool:
        done = await query(url, "SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn")
        return done >= target

    await wait_for(replayed, within=120)


@contextlib.asynccontextmanager
async def paused(url: str) -> AsyncIterator[None]:
    await query(url, "SELECT pg_wal_replay_pause()")

    async def is_paused() -> bool:
        return await query(url, "SELECT pg_get_wal_replay_pause_state()") == "paused"

    await wait_for(is_paused, within=60)
    try:
        yield
    finally:
        await query(url, "SELECT pg_wal_replay_resume()")


@contextlib.asynccontextmanager
async def replica_app(stack: Stack, url: str, **overrides: Any) -> AsyncIterator[FastAPI]:
    """An API process's app reading `url` as its replica (requests really commit)."""
    values: dict[str, Any] = {
        "database_read_urls": [url],
        "read_replica_max_lag_seconds": 3600,  # a paused standby stays in use
        "read_replica_poll_seconds": 0.02,
        "rate_limit_enabled": False,
        **overrides,
    }
    application = create_app(make_settings(stack, **values))
    try:
        async with application.router.lifespan_context(application):
            yield application
    finally:
        engine = owner_engine(stack)
        async with engine.begin() as conn:
            await conn.exec_driver_sql("DELETE FROM users WHERE username LIKE 'rr%'")
        await engine.dispose()


def http(application: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60)


def reads(application: FastAPI) -> dict[str, int]:
    return dict(application.state.reads.stats()["reads"])


async def served_by(application: FastAPI, client: httpx.AsyncClient, account: Account) -> str:
    """Who answered this user's reads for one request (`primary` or `replica`)."""
    before = reads(application)
    r = await client.get("/api/users/me", headers=account.headers)
    assert r.status_code == 200, r.text
    after = reads(application)
    grew = [target for target in after if after[target] > before[target]]
    assert len(grew) == 1, (before, after)
    return grew[0]


async def until_served_by_replica(
    application: FastAPI, client: httpx.AsyncClient, account: Account
) -> None:
    async def on_replica() -> bool:
        return await served_by(application, client, account) == "replica"

    await wait_for(on_replica, within=60, interval=0.05)


def user() -> str:
    return f"rr{random.randrange(16**10):010x}"


async def test_the_author_reads_their_write_at_once_while_others_read_the_replica(
    stack: Stack, standby: EmbeddedStandby, redis: Any
) -> None:
    url = standby_url(stack, standby)
    async with replica_app(stack, url) as application, http(application) as client:
        alice = await register_and_login(client, user())
        bob = await register_and_login(client, user())
        await caught_up(stack, url)
        await until_served_by_replica(application, client, bob)

        async with paused(url):
            r = await client.post(
                "/api/bookmarks",
                headers=alice.headers,
                json={"url": "https://example.com/quokka", "title": "Quokka habits"},
            )
            assert r.status_code == 201, r.text
            bookmark = r.json()["id"]
            # The standby has not got it: only the primary can show it.
            on_standby = await query(url, f"SELECT count(*) FROM bookmarks WHERE id = '{bookmark}'")
            assert on_standby == 0

            before = reads(application)
            r = await client.get(
                "/api/search", params={"q": "quokka", "mode": "keyword"}, headers=alice.headers
            )
            assert r.status_code == 200, r.text
            assert [hit["bookmark"]["id"] for hit in r.json()["items"]] == [bookmark]
            after = reads(application)
            assert after["replica"] == before["replica"]
            assert after["primary"] > before["primary"]

            # The ORM's reads too: the list, one bookmark, the export.
            before = reads(application)
            r = await client.get("/api/bookmarks", headers=alice.headers)
            assert [b["id"] for b in r.json()["items"]] == [bookmark]
            r = await client.get(f"/api/bookmarks/{bookmark}", headers=alice.headers)
            assert r.status_code == 200, r.text
            r = await client.get("/api/exports", params={"format": "json"}, headers=alice.headers)
            assert [b["url"] for b in r.json()["bookmarks"]] == ["https://example.com/quokka"]
            assert reads(application)["replica"] == before["replica"]

            # Bob wrote nothing since the standby replayed his sign-up: his reads stay there.
            for _ in range(3):
                assert await served_by(application, client, bob) == "replica"
            before = reads(application)
            r = await client.get("/api/bookmarks", headers=bob.headers)
            assert r.status_code == 200 and r.json()["items"] == []
            r = await client.get("/api/projects", headers=bob.headers)
            assert r.status_code == 200 and r.json()["items"] == []
            # Authentication and the two lists.
            assert reads(application)["replica"] == before["replica"] + 4
            assert reads(application)["primary"] == before["primary"]

            # A new account's token works at once (its sign-in is on the primary only).
            carol = await register_and_login(client, user())
            assert await served_by(application, client, carol) == "primary"

        # Replayed: the author's reads go back to the standby.
        await until_served_by_replica(application, client, alice)
        r = await client.get(
            "/api/search", params={"q": "quokka", "mode": "keyword"}, headers=alice.headers
        )
        assert [hit["bookmark"]["id"] for hit in r.json()["items"]] == [bookmark]
        stats = application.state.reads.stats()
        assert stats["replicas"][0]["usable"] and stats["replicas"][0]["reads"] > 0


async def test_project_reads_go_to_the_replica_and_the_author_sees_a_new_task_at_once(
    stack: Stack, standby: EmbeddedStandby, redis: Any
) -> None:
    url = standby_url(stack, standby)
    async with replica_app(stack, url) as application, http(application) as client:
        alice = await register_and_login(client, user())

        async def post(path: str, body: dict[str, Any]) -> str:
            r = await client.post(path, headers=alice.headers, json=body)
            assert r.status_code == 201, r.text
            return str(r.json()["id"])

        project = await post("/api/projects", {"title": "Moon base"})
        task = await post(f"/api/projects/{project}/tasks", {"title": "Dig the foundations"})
        subtask = await post(f"/api/tasks/{task}/subtasks", {"title": "Find a shovel"})
        await caught_up(stack, url)
        await until_served_by_replica(application, client, alice)
        paths = [
            f"/api/projects/{project}",
            f"/api/projects/{project}/tasks",
            f"/api/tasks/{task}",
            f"/api/tasks/{task}/subtasks",
            f"/api/subtasks/{subtask}",
        ]
        for path in paths:
            before = reads(application)
            r = await client.get(path, headers=alice.headers)
            assert r.status_code == 200, r.text
            after = reads(application)
            # Who the bearer is, then the route's own read: both on the standby.
            assert after["primary"] == before["primary"]
            assert after["replica"] == before["replica"] + 2, path
        # Another user's ids stay unknown on the standby too.
        bob = await register_and_login(client, user())
        await caught_up(stack, url)
        await until_served_by_replica(application, client, bob)
        for path in paths:
            r = await client.get(path, headers=bob.headers)
            assert r.status_code == 404, (path, r.text)

        async with paused(url):
            second = await post(f"/api/projects/{project}/tasks", {"title": "Pour concrete"})
            r = await client.get(f"/api/projects/{project}/tasks", headers=alice.headers)
            assert [t["title"] for t in r.json()["items"]] == [
                "Dig the foundations",
                "Pour concrete",
            ]
            r = await client.get(f"/api/tasks/{second}", headers=alice.headers)
            assert r.status_code == 200, r.text
            r = await client.get(f"/api/projects/{project}", headers=alice.headers)
            assert r.status_code == 200, r.text


async def test_a_stopped_replica_fails_no_read(
    stack: Stack, standby: EmbeddedStandby, redis: Any
) -> None:
    url = standby_url(stack, standby)
    app = replica_app(stack, url, read_replica_retry_seconds=1)
    async with app as application, http(application) as client:
        bob = await register_and_login(client, user())
        await caught_up(stack, url)
        await until_served_by_replica(application, client, bob)

        pool = application.state.reads
        bob_id = uuid.UUID((await client.get("/api/users/me", headers=bob.headers)).json()["id"])

        async def count(session: Any) -> int:
            return (await session.execute(text("SELECT count(*) FROM bookmarks"))).scalar_one()

        # An ORM read on the standby (its pool keeps the connection)...
        before = reads(application)
        assert await pool.read(bob_id, count, application.state.sessionmaker) == 0
        assert reads(application)["replica"] == before["replica"] + 1

        standby.stop()
        try:
            # ... on that broken connection, before anything noticed: the primary answers.
            before = reads(application)
            assert await pool.read(bob_id, count, application.state.sessionmaker) == 0
            assert reads(application)["primary"] == before["primary"] + 1
            failed = 0
            for _ in range(20):
                r = await client.get("/api/users/me", headers=bob.headers)
                failed += r.status_code != 200
                r = await client.get(
                    "/api/search", params={"q": "anything", "mode": "keyword"},
                    headers=bob.headers,
                )  # fmt: skip
                failed += r.status_code != 200
                r = await client.get("/api/bookmarks", headers=bob.headers)
                failed += r.status_code != 200
            assert failed == 0
            state = application.state.reads.stats()["replicas"][0]
            assert not state["usable"] and state["failures"] > 0
            assert await served_by(application, client, bob) == "primary"
        finally:
            standby.start(timeout=180)
        # Back: retried after the rest, and used again.
        await until_served_by_replica(application, client, bob)


async def test_a_replica_behind_the_lag_bound_is_skipped(
    stack: Stack, standby: EmbeddedStandby, redis: Any
) -> None:
    url = standby_url(stack, standby)
    app = replica_app(stack, url, read_replica_max_lag_seconds=1)
    async with app as application, http(application) as client:
        bob = await register_and_login(client, user())
        await caught_up(stack, url)
        await until_served_by_replica(application, client, bob)

        async with paused(url):
            # Someone else's write the standby receives and cannot replay: it falls
            # behind, and even Bob, who wrote nothing since, reads from the primary.
            await register_and_login(client, user())

            async def skipped() -> bool:
                await client.get("/api/users/me", headers=bob.headers)
                state = application.state.reads.stats()["replicas"][0]
                return not state["usable"] and (state["lag_seconds"] or 0) > 1

            await wait_for(skipped, within=60, interval=0.1)
            assert await served_by(application, client, bob) == "primary"
        await until_served_by_replica(application, client, bob)


async def test_a_change_made_outside_requests_is_read_from_the_primary_at_once(
    stack: Stack, standby: EmbeddedStandby, redis: Any
) -> None:
    """A worker's commit (its sessions are made as workers/main.py makes them) leaves the
    marker too: an account disabled in the system scope is refused at once, though the
    standby still has it active."""
    url = standby_url(stack, standby)
    async with replica_app(stack, url) as application, http(application) as client:
        alice = await register_and_login(client, user())
        alice_id = uuid.UUID(
            (await client.get("/api/users/me", headers=alice.headers)).json()["id"]
        )
        await caught_up(stack, url)
        await until_served_by_replica(application, client, alice)

        settings = application.state.settings
        job_reads = ReadPool(settings, redis=application.state.redis)
        engine = create_engine(settings)
        try:
            async with paused(url):
                async with create_sessionmaker(engine, job_reads)() as session:
                    await bind_system(session)
                    account = await session.get(User, alice_id)
                    assert account is not None
                    account.disabled_at = datetime.now(UTC)
                    await session.commit()
                r = await client.get("/api/users/me", headers=alice.headers)
                assert r.status_code == 401, r.text
        finally:
            await job_reads.close()
            await engine.dispose()
