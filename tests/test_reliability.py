"""Under load and faults: concurrent writes never deadlock into a 500, a transaction that
loses a deadlock is retried, a lost database answers 503 (reads retry once), and an error
never costs the client its keep-alive connection."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from sqlalchemy import text

from app.bookmarks import jobs
from app.db import is_conflict
from app.embedded import free_port
from app.main import create_app
from tests.conftest import Account, Stack, as_operator, as_owner, make_settings, register_and_login

WORDS = [
    *("postgres", "vector", "search", "index", "query", "plan", "lock", "order", "tag"),
    *("deadlock", "retry", "worker", "save", "page", "notes", "extract", "embed", "token"),
    *("commit", "rollback", "latency", "queue", "python", "async"),
]
TAGS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]


def _page(rng: random.Random) -> str:
    body = " ".join(rng.choice(WORDS) for _ in range(120))
    return f"<html><head><title>{rng.choice(WORDS)}</title></head><body><p>{body}</p></body></html>"


@pytest.fixture
async def live_app(stack: Stack) -> AsyncIterator[FastAPI]:
    """An app of its own whose requests really commit, with no rate limits (one client IP
    sends hundreds of requests); its users are deleted afterwards."""
    application = create_app(make_settings(stack, rate_limit_enabled=False, db_pool_size=10))
    async with application.router.lifespan_context(application):
        yield application
        await _drop_rel_users(application)


async def _drop_rel_users(application: FastAPI) -> None:
    """Delete this module's users. A worker may still be saving for them (the jobs their
    extraction queued: a card picture, an archive), so the cascade can lose a deadlock to that
    job: it is tried again, as the app's own transactions are."""
    for attempt in range(5):
        try:
            async with as_operator(application.state.engine) as conn:
                await conn.execute(text("DELETE FROM users WHERE username LIKE 'rel%'"))
            return
        except Exception as exc:
            if not is_conflict(exc) or attempt == 4:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))


async def _extract(app: FastAPI, bookmark_id: str) -> None:
    """The worker's extraction step, run here on the app's own pool."""
    ctx = {"sessionmaker": app.state.sessionmaker, "redis": app.state.redis, "job_try": 1}
    ctx["settings"] = app.state.settings
    await jobs.extract_bookmark(ctx, bookmark_id, 1)


async def test_concurrent_saves_patches_and_extraction_never_answer_500(live_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=live_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        users: list[Account] = [
            await register_and_login(client, f"rel{uuid.uuid4().hex[:8]}") for _ in range(3)
        ]
        ids: dict[str, list[str]] = {u.username: [] for u in users}
        statuses: Counter[tuple[str, int]] = Counter()
        job_errors: list[BaseException] = []

        async def one(rng: random.Random) -> None:
            user = rng.choice(users)
            mine = ids[user.username]
            tags = rng.sample(TAGS, rng.randint(1, 3))
            if mine and rng.random() < 0.45:
                bookmark_id = rng.choice(mine)
                notes = " ".join(rng.choice(WORDS) for _ in range(8))
                r = await client.patch(
                    f"/api/bookmarks/{bookmark_id}",
                    json={"notes": notes, "tags": tags},
                    headers=user.headers,
                )
                statuses["patch", r.status_code] += 1
                return
            url = f"https://example.com/{user.username}/{rng.randint(0, 11)}"
            r = await client.post(
                "/api/bookmarks",
                json={"url": url, "tags": tags, "html": _page(rng)},
                headers=user.headers,
            )
            statuses["save", r.status_code] += 1
            if r.status_code == 201:
                mine.append(r.json()["id"])
                try:  # the worker extracts while the others keep saving and editing
                    await _extract(live_app, r.json()["id"])
                except Exception as exc:
                    job_errors.append(exc)

        async def client_loop(seed: int) -> None:
            rng = random.Random(seed)
            for _ in range(30):
                await one(rng)

        await asyncio.gather(*(client_loop(seed) for seed in range(8)))

        # Each tag's count (kept by the database as links change, applied at commit) is the
        # number of bookmarks that have it, after all of that.
        for user in users:
            listed = (
                await client.get("/api/bookmarks", params={"limit": 100}, headers=user.headers)
            ).json()["items"]
            have = Counter(t for b in listed for t in b["tags"])
            counted = (await client.get("/api/tags", headers=user.headers)).json()["items"]
            assert {t["name"]: t["count"] for t in counted if t["count"]} == dict(have)

    errors = {k: v for k, v in statuses.items() if k[1] >= 500}
    assert not errors, statuses
    assert not job_errors, job_errors[:3]
    assert sum(statuses.values()) == 240


FORCE_CONFLICT = """
CREATE FUNCTION fuze_test_conflict() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF nextval('fuze_test_conflicts') <= {times} THEN
        RAISE EXCEPTION 'deadlock detected (forced by a test)' USING ERRCODE = '{sqlstate}';
    END IF;
    RETURN NULL;
END $$
"""


async def _force_conflicts(app: FastAPI, times: int, sqlstate: str = "40P01") -> None:
    """The next `times` commits that saved a page whose URL says force-conflict lose a race,
    at commit (a deferred trigger), as a deadlock lost on the data version would."""
    async with as_owner(app.state.engine) as conn:
        await conn.execute(text("CREATE SEQUENCE fuze_test_conflicts"))
        await conn.execute(text(FORCE_CONFLICT.format(times=times, sqlstate=sqlstate)))
        await conn.execute(
            text(
                "CREATE CONSTRAINT TRIGGER tr_test_conflict AFTER INSERT ON bookmarks"
                " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
                " WHEN (NEW.url LIKE '%force-conflict%') EXECUTE FUNCTION fuze_test_conflict()"
            )
        )


async def _conflicts_raised(app: FastAPI) -> int:
    async with as_owner(app.state.engine) as conn:
        return int(await conn.scalar(text("SELECT last_value FROM fuze_test_conflicts")))


@pytest.fixture
async def forced_conflicts(live_app: FastAPI) -> AsyncIterator[FastAPI]:
    yield live_app
    await _unforce_conflicts(live_app)


async def _unforce_conflicts(app: FastAPI) -> None:
    async with as_owner(app.state.engine) as conn:
        await conn.execute(text("DROP TRIGGER IF EXISTS tr_test_conflict ON bookmarks"))
        await conn.execute(text("DROP FUNCTION IF EXISTS fuze_test_conflict()"))
        await conn.execute(text("DROP SEQUENCE IF EXISTS fuze_test_conflicts"))


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
async def test_a_transaction_that_loses_a_race_once_is_run_again(
    forced_conflicts: FastAPI, sqlstate: str
) -> None:
    app = forced_conflicts
    await _force_conflicts(app, times=1, sqlstate=sqlstate)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        user = await register_and_login(client, f"rel{uuid.uuid4().hex[:8]}")
        r = await client.post(
            "/api/bookmarks",
            json={"url": "https://example.com/force-conflict", "tags": ["Retry"], "notes": "n"},
            headers=user.headers,
        )
        assert r.status_code == 201, r.text  # the body was replayed to the second run
        assert r.json()["tags"] == ["Retry"] and r.json()["notes"] == "n"
        assert await _conflicts_raised(app) == 2  # failed once, then committed
        r = await client.get("/api/bookmarks", headers=user.headers)
        assert [b["url"] for b in r.json()["items"]] == ["https://example.com/force-conflict"]


async def test_a_request_run_again_counts_once_against_the_rate_limit(stack: Stack) -> None:
    """The server's own retry is not the client's second request: with a limit of one
    request a minute, a save whose first run lost a race still answers 201, not 429."""
    application = create_app(make_settings(stack, rate_limit_user_per_minute=1))
    async with application.router.lifespan_context(application):
        try:
            await _force_conflicts(application, times=1)
            transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                user = await register_and_login(c, f"rel{uuid.uuid4().hex[:8]}")
                r = await c.post(
                    "/api/bookmarks",
                    json={"url": "https://example.com/force-conflict"},
                    headers=user.headers,
                )
                assert r.status_code == 201, r.text
                assert await _conflicts_raised(application) == 2  # it was run twice
                r = await c.get("/api/bookmarks", headers=user.headers)
                assert r.status_code == 429  # the limit itself still holds
        finally:
            await _unforce_conflicts(application)
            await _drop_rel_users(application)


async def test_a_race_lost_twice_is_a_503_with_retry_after(forced_conflicts: FastAPI) -> None:
    app = forced_conflicts
    await _force_conflicts(app, times=2)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        user = await register_and_login(client, f"rel{uuid.uuid4().hex[:8]}")
        r = await client.post(
            "/api/bookmarks",
            json={"url": "https://example.com/force-conflict"},
            headers=user.headers,
        )
        assert r.status_code == 503
        assert r.headers["retry-after"] == "1"
        assert r.json()["error"]["code"] == "database_busy"
        r = await client.get("/api/bookmarks", headers=user.headers)
        assert r.json()["items"] == []  # nothing half-saved


# -- the database goes away -------------------------------------------------------------

READS = ("/api/bookmarks", "/api/search?q=example&mode=keyword", "/api/users/me")


async def _terminate_app_backends(database_url: str) -> int:
    """What a restarting server or a failover does to every connection of the app's pools,
    done from an admin connection of its own."""
    import asyncpg

    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return int(
            await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = 'fuze' AND datname = current_database()"
                " AND pid <> pg_backend_pid()"
            )
        )
    finally:
        await conn.close()


async def _library(client: httpx.AsyncClient) -> Account:
    user = await register_and_login(client, f"rel{uuid.uuid4().hex[:8]}")
    for i in range(3):
        r = await client.post(
            "/api/bookmarks",
            json={"url": f"https://example.com/{i}", "title": f"Example {i}"},
            headers=user.headers,
        )
        assert r.status_code == 201, r.text
    return user


async def test_reads_after_every_connection_was_cut_answer_200(
    live_app: FastAPI, stack: Stack
) -> None:
    transport = httpx.ASGITransport(app=live_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        user = await _library(client)
        for _ in range(3):
            # Both pools hold idle connections, then lose them all between two requests.
            for path in READS:
                assert (await client.get(path, headers=user.headers)).status_code == 200
            assert await _terminate_app_backends(stack.database_url) > 0
            for path in READS:
                r = await client.get(path, headers=user.headers)
                assert r.status_code == 200, (path, r.text)


async def test_reads_while_connections_are_cut_never_answer_500(
    live_app: FastAPI, stack: Stack
) -> None:
    transport = httpx.ASGITransport(app=live_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        user = await _library(client)
        statuses: Counter[int] = Counter()
        retry_after: set[str | None] = set()
        done = asyncio.Event()

        async def reader(seed: int) -> None:
            for i in range(30):
                r = await client.get(READS[(seed + i) % 3], headers=user.headers)
                statuses[r.status_code] += 1
                if r.status_code == 503:
                    retry_after.add(r.headers.get("retry-after"))

        async def cutter() -> None:
            while not done.is_set():
                await _terminate_app_backends(stack.database_url)
                await asyncio.sleep(0.3)

        cutting = asyncio.create_task(cutter())
        try:
            await asyncio.gather(*(reader(seed) for seed in range(6)))
        finally:
            done.set()
            await cutting
    assert set(statuses) <= {200, 503}, statuses
    assert retry_after <= {"2"}
    assert statuses[200] > statuses[503], statuses


async def test_with_the_server_down_reads_answer_503_then_recover(
    stack: Stack, tmp_path: Any
) -> None:
    from app.cli import run_migrations
    from app.embedded import EmbeddedPostgres

    pg = EmbeddedPostgres(tmp_path / "pg")
    await asyncio.to_thread(pg.start)
    try:
        await asyncio.to_thread(run_migrations, pg.url())
        application = create_app(
            make_settings(stack, database_url=pg.url(), rate_limit_enabled=False)
        )
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                user = await _library(client)
                await asyncio.to_thread(pg.stop)
                for path in READS:
                    r = await client.get(path, headers=user.headers)
                    assert r.status_code == 503, (path, r.text)
                    assert r.headers["retry-after"] == "2"
                    assert r.json()["error"]["code"] == "database_unavailable"
                r = await client.post(
                    "/api/bookmarks", json={"url": "https://example.com/x"}, headers=user.headers
                )
                assert r.status_code == 503, r.text
                await asyncio.to_thread(pg.start)
                for path in READS:
                    r = await client.get(path, headers=user.headers)
                    assert r.status_code == 200, (path, r.text)
    finally:
        await asyncio.to_thread(pg.stop)


# -- an error costs nothing but its answer ----------------------------------------------


async def test_a_500_keeps_the_keep_alive_connection(stack: Stack) -> None:
    application = create_app(make_settings(stack, rate_limit_enabled=False))

    async def boom() -> None:
        raise RuntimeError("a bug")

    async def port(request: Request) -> dict[str, int]:
        assert request.client is not None
        return {"port": request.client.port}

    application.add_api_route("/test/boom", boom)
    application.add_api_route("/test/port", port)
    server = uvicorn.Server(
        uvicorn.Config(application, host="127.0.0.1", port=free_port(), log_level="critical")
    )
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(1200):  # generous: a busy 2-core machine
            if server.started:
                break
            await asyncio.sleep(0.1)
        assert server.started, "uvicorn did not start within 120 s"
        base = f"http://127.0.0.1:{server.config.port}"
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
            first = (await client.get("/test/port")).json()["port"]
            r = await client.get("/test/boom")
            assert r.status_code == 500
            assert r.json()["error"]["code"] == "internal_error"
            # The same connection (the same client port) answers the next request.
            r2 = await client.get("/test/port")
            assert r2.status_code == 200 and r2.json()["port"] == first
            assert "x-request-id" in r.headers  # the 500 went through every layer
    finally:
        server.should_exit = True
        await serving


def _wrapped(orig: Exception, invalidated: bool = False) -> Exception:
    """As SQLAlchemy raises what asyncpg raised."""
    from sqlalchemy import exc as sa_exc

    return sa_exc.DBAPIError("SELECT 1", None, orig, connection_invalidated=invalidated)


@pytest.mark.parametrize(
    ("error", "unavailable", "conflict"),
    [
        (lambda: asyncpg_errors().CannotConnectNowError("starting up"), True, False),
        (lambda: _wrapped(asyncpg_errors().AdminShutdownError("terminated")), True, False),
        (lambda: _wrapped(asyncpg_errors().ConnectionDoesNotExistError("gone")), True, False),
        (lambda: _wrapped(RuntimeError("closed"), invalidated=True), True, False),
        (lambda: ConnectionRefusedError(111, "refused"), True, False),
        (lambda: _wrapped(asyncpg_errors().DeadlockDetectedError("deadlock")), False, True),
        (lambda: _wrapped(asyncpg_errors().SerializationError("race")), False, True),
        (lambda: _wrapped(asyncpg_errors().UniqueViolationError("dup")), False, False),
        (lambda: ValueError("a bug"), False, False),
        (lambda: FileNotFoundError("not the database"), False, False),
    ],
)
def test_which_errors_mean_unavailable_or_a_lost_race(
    error: Any, unavailable: bool, conflict: bool
) -> None:
    from app.db import is_conflict, is_unavailable

    exc = error()
    assert is_unavailable(exc) is unavailable
    assert is_conflict(exc) is conflict


def asyncpg_errors() -> Any:
    import asyncpg

    return asyncpg.exceptions


async def test_a_job_that_loses_a_race_or_the_database_is_tried_again_soon(
    app: FastAPI, settings: Any
) -> None:
    """A worker's job whose transaction lost a deadlock, or that found the database away, is
    queued again within seconds (arq's Retry) instead of failing and leaving its bookmark to
    the sweeper minutes later; any other error still fails the job."""
    from arq import Retry

    from app.db import create_engine
    from workers.main import retry_database_faults

    async def deadlocked(ctx: dict[str, Any]) -> str:
        async with app.state.engine.connect() as conn:
            await conn.execute(
                text("DO $$ BEGIN RAISE EXCEPTION 'lost' USING ERRCODE = '40P01'; END $$")
            )
        return "done"

    with pytest.raises(Retry) as lost:
        await retry_database_faults(deadlocked)({"job_try": 1})
    assert lost.value.defer_score == 2000  # ms: 2 s after the first try, doubling after

    away = create_engine(settings, url=f"postgresql://fuze@127.0.0.1:{free_port()}/fuze")

    async def unreachable(ctx: dict[str, Any]) -> str:
        async with away.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return "done"

    try:
        with pytest.raises(Retry) as down:
            await retry_database_faults(unreachable)({"job_try": 3})
        assert down.value.defer_score == 8000
    finally:
        await away.dispose()

    async def wrong(ctx: dict[str, Any]) -> str:
        async with app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1/0"))
        return "done"

    with pytest.raises(Exception, match="division by zero"):
        await retry_database_faults(wrong)({"job_try": 1})
