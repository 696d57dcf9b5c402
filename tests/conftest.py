"""One embedded PostgreSQL + Valkey for the whole run (or FUZE_TEST_DATABASE_URL /
FUZE_TEST_REDIS_URL), the schema built by `alembic upgrade head`, and each test inside a
transaction that is rolled back. Requests go through httpx's ASGITransport."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

from app.cli import run_migrations
from app.config import Settings
from app.db import NO_SCOPE, SERVER_SETTINGS, SYSTEM_SCOPE, Scope, bind_user, create_engine
from app.embedded import EmbeddedPostgres, EmbeddedValkey
from app.main import create_app
from tests.fakes.gemini import FakeGemini

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@dataclass
class Stack:
    database_url: str
    redis_url: str
    data_dir: Path
    # The embedded server, when the run started one (tests that start a standby of it).
    postgres: EmbeddedPostgres | None = None


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("fuze-data")
    servers: list[EmbeddedPostgres | EmbeddedValkey] = []
    database_url = os.environ.get("FUZE_TEST_DATABASE_URL")
    redis_url = os.environ.get("FUZE_TEST_REDIS_URL")
    pg: EmbeddedPostgres | None = None
    try:
        if not database_url:
            pg = EmbeddedPostgres(tmp_path_factory.mktemp("postgres"))
            servers.append(pg)
            pg.start()
            name = f"fuze_test_{secrets.token_hex(4)}"
            pg.ensure_database(name)
            database_url = pg.url(name)
        if not redis_url:
            vk = EmbeddedValkey(tmp_path_factory.mktemp("valkey"))
            servers.append(vk)
            vk.start()
            redis_url = vk.url(1)
        run_migrations(database_url)
        yield Stack(database_url, redis_url, data_dir, pg)
    finally:
        for server in reversed(servers):
            server.stop()


def make_settings(stack: Stack, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "database_url": stack.database_url,
        "redis_url": stack.redis_url,
        "data_dir": stack.data_dir,
        "secret_key": "test-secret-" + "x" * 40,
        # Cheap argon2 so that the suite's many sign-ins stay fast; production uses the defaults.
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8 * 1024,
        "log_json": True,
        "preload_model": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def gemini_fake() -> Iterator[FakeGemini]:
    fake = FakeGemini().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def settings(stack: Stack, gemini_fake: FakeGemini) -> Settings:
    return make_settings(stack, gemini_base_url=gemini_fake.base_url)


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


class _SavepointSession(Session):
    """A session whose commit is a savepoint: it fires the deferred constraint triggers (the
    per-user data version) that a real commit would fire, then forgets which users it bumped
    (a real transaction would end there), so the next request's changes bump again."""


@event.listens_for(_SavepointSession, "before_commit")
def _fire_deferred_triggers(session: Session) -> None:
    session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
    session.execute(text("SELECT set_config('fuze.bumped', '', true)"))


@event.listens_for(_SavepointSession, "after_transaction_end")
def _back_to_system_scope(session: Session, transaction: SessionTransaction) -> None:
    """The app's session ran in its user's scope (app.db.bind_user), which a released
    savepoint keeps: the test's own statements on the connection see every row again."""
    if transaction.parent is None and session.bind is not None:
        session.bind.exec_driver_sql(SYSTEM_SCOPE.sql(local=True))  # type: ignore[union-attr]


class ConnectionReads:
    """The read pool's statements (app.db.ReadPool) on the test's connection, inside its
    transaction, where the test's users are (the real pool sees committed rows only: the
    `live_client` tests and the API processes use it)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.lock = asyncio.Lock()

    async def fetchrow(
        self, sql: str, *args: object, user: uuid.UUID, generic: bool = False
    ) -> object:
        rows = await self.fetch(sql, *args, user=user, generic=generic)
        return rows[0] if rows else None

    async def fetch(
        self, sql: str, *args: object, user: uuid.UUID, generic: bool = False
    ) -> list[object]:
        return await self._run(sql, args, Scope(user_id=user, generic=generic))

    async def fetch_owner(self, sql: str, *args: object) -> object:
        rows = await self._run(sql, args, NO_SCOPE)
        return rows[0] if rows else None

    async def _run(self, sql: str, args: tuple[object, ...], scope: Scope) -> list[object]:
        # One statement at a time on the one connection (the app runs some concurrently), in
        # the scope (and with the plans) the read pool would give it; then the test's own
        # scope again.
        async with self.lock:
            await self.conn.exec_driver_sql(scope.sql(local=True))
            try:
                result = await self.conn.exec_driver_sql(sql, tuple(args))
                return [_Record(row) for row in result]
            finally:
                await self.conn.exec_driver_sql(SYSTEM_SCOPE.sql(local=True))
                if scope.generic:
                    await self.conn.exec_driver_sql(
                        f"SET LOCAL plan_cache_mode = {SERVER_SETTINGS['plan_cache_mode']}"
                    )

    async def read(self, user_id: uuid.UUID, work: Any, primary: Any) -> Any:
        """ReadPool.read with no replica: on the request's session, or one of the app's."""
        if isinstance(primary, AsyncSession):
            return await work(primary)
        async with primary() as session:
            await bind_user(session, user_id)
            return await work(session)

    async def close(self) -> None:
        pass


class _Record:
    """A result row read by position or by name, as asyncpg's records are."""

    __slots__ = ("_row",)

    def __init__(self, row: Any) -> None:
        self._row = row

    def __getitem__(self, key: int | str) -> object:
        return self._row._mapping[key] if isinstance(key, str) else self._row[key]


def bind_to(application: FastAPI, conn: AsyncConnection, **options: object) -> None:
    """Point an app's sessions (as savepoints) and its read pool at the test's connection."""
    application.state.sessionmaker = async_sessionmaker(
        bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint", **options
    )
    application.state.reads = ConnectionReads(conn)


async def close_app(application: FastAPI) -> None:
    """What the lifespan closes, for an app made without it."""
    await application.state.redis.aclose()
    await application.state.reads.close()
    await application.state.engine.dispose()


@pytest.fixture
async def db(app: FastAPI) -> AsyncIterator[AsyncConnection]:
    """The test's connection: everything the app writes lands in a transaction rolled back
    at the end; the app's sessions commit to savepoints inside it."""
    engine = app.state.engine
    real_maker, real_reads = app.state.sessionmaker, app.state.reads
    async with engine.connect() as conn:
        outer = await conn.begin()
        # The app's role sees nothing without a scope: the test sees every row (its requests
        # run in their users' scopes, as they would in the app).
        await conn.exec_driver_sql(SYSTEM_SCOPE.sql(local=True))
        bind_to(app, conn, sync_session_class=_SavepointSession)
        try:
            yield conn
        finally:
            app.state.sessionmaker, app.state.reads = real_maker, real_reads
            await outer.rollback()


@pytest.fixture
async def redis(app: FastAPI) -> AsyncIterator[object]:
    await app.state.redis.flushdb()
    yield app.state.redis


@pytest.fixture
async def client(
    app: FastAPI, db: AsyncConnection, redis: object
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@dataclass
class Account:
    username: str
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def register_and_login(client: httpx.AsyncClient, name: str | None = None) -> Account:
    name = name or f"user{uuid.uuid4().hex[:10]}"
    password = "correct horse battery staple"
    r = await client.post(
        "/api/auth/register",
        json={"username": name, "email": f"{name}@example.com", "password": password},
    )
    assert r.status_code == 201, r.text
    r = await client.post("/api/auth/login", json={"login": name, "password": password})
    assert r.status_code == 200, r.text
    body = r.json()
    return Account(
        name, f"{name}@example.com", password, body["access_token"], body["refresh_token"]
    )


@pytest.fixture
async def alice(client: httpx.AsyncClient) -> Account:
    return await register_and_login(client, "alice")


@pytest.fixture
async def bob(client: httpx.AsyncClient) -> Account:
    return await register_and_login(client, "bob")


def service_env(stack: Stack, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "FUZE_ENV": "test",
            "FUZE_DATABASE_URL": stack.database_url,
            "FUZE_REDIS_URL": stack.redis_url,
            "FUZE_SECRET_KEY": "test-secret-" + "x" * 40,
            "FUZE_DATA_DIR": str(stack.data_dir),
        }
    )
    env.update(extra)
    return env


@pytest.fixture
def worker_process(stack: Stack) -> Iterator[subprocess.Popen[bytes]]:
    """A real arq worker process on the test Redis and database."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers"],
        env=service_env(stack),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield proc
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


async def wait_for(predicate, within: float = 30.0, interval: float = 0.1):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = await predicate()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


@pytest.fixture
async def live_client(app: FastAPI, redis: object) -> AsyncIterator[httpx.AsyncClient]:
    """Requests that really commit (for races between concurrent transactions); the users they
    create are deleted afterwards."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
    async with as_operator(app.state.engine) as conn:
        await conn.execute(
            text("DELETE FROM users WHERE username LIKE 'race%' OR username LIKE 'user%'")
        )


@pytest.fixture
async def app_without_redis(stack: Stack, db: AsyncConnection) -> AsyncIterator[FastAPI]:
    """A replica whose Redis is gone (nothing listens on the port)."""
    from app.embedded import free_port

    application = create_app(
        make_settings(
            stack, redis_url=f"redis://127.0.0.1:{free_port()}/0", rate_limit_auth_ip_per_minute=3
        )
    )
    bind_to(application, db)
    yield application
    await close_app(application)


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def live_redis_url(stack: Stack) -> str:
    """The live API process and pipeline worker use their own Redis database, so their
    heartbeats and queue never meet the in-process app's (whose database tests flush)."""
    return stack.redis_url.rsplit("/", 1)[0] + "/2"


@pytest.fixture
async def live_redis(stack: Stack) -> AsyncIterator[Any]:
    from app.broker import create_redis

    client = create_redis(make_settings(stack), live_redis_url(stack))
    yield client
    await client.aclose()


PIPELINE_ENV = {
    "FUZE_ALLOW_PRIVATE_NETWORKS": "true",  # the test web server is on 127.0.0.1
    "FUZE_FETCH_TIMEOUT_SECONDS": "1",
    "FUZE_SWEEP_INTERVAL_SECONDS": "1",
    "FUZE_SWEEP_STALE_SECONDS": "3",
    "FUZE_PIPELINE_JOB_TIMEOUT_SECONDS": "8",
    "FUZE_PIPELINE_RETRY_BASE_SECONDS": "0.2",
    "FUZE_RATE_LIMIT_ENABLED": "false",
    "FUZE_ARGON2_TIME_COST": "1",
    "FUZE_ARGON2_MEMORY_KIB": "8192",
    # A failing webhook is tried twice more, half a second apart, and paused after 2 failed.
    "FUZE_WEBHOOK_RETRY_SECONDS": "[0.5, 0.5]",
    "FUZE_WEBHOOK_PAUSE_AFTER_FAILURES": "2",
}


def metrics_dir(stack: Stack) -> str:
    """The live API process and pipeline worker count into one multiprocess folder, as under
    `fuze up`: the API's /metrics adds up both (tests/test_metrics.py)."""
    path = stack.data_dir / "metrics"
    path.mkdir(exist_ok=True)
    return str(path)


@pytest.fixture(scope="session")
def api_server(stack: Stack, gemini_fake: FakeGemini) -> Iterator[str]:
    """A real uvicorn API process (for streaming responses, which ASGITransport buffers)."""
    from app.embedded import free_port

    port = free_port()
    with (stack.data_dir / "api.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "api", "--port", str(port)],
            env=service_env(
                stack,
                **PIPELINE_ENV,
                FUZE_REDIS_URL=live_redis_url(stack),
                FUZE_GEMINI_BASE_URL=gemini_fake.base_url,
                # Event streams re-read their session this often (tests/test_events.py).
                FUZE_EVENTS_RECHECK_SECONDS="2",
                PROMETHEUS_MULTIPROC_DIR=metrics_dir(stack),
            ),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{base}/api/health", proc)
        yield base
    finally:
        proc.terminate()
        proc.wait(15)


class WorkerProcess:
    """A real arq worker that tests may kill and start again."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        port = env.get("FUZE_WORKER_METRICS_PORT")
        self.metrics_url = f"http://127.0.0.1:{port}/metrics" if port else None

    def start(self) -> None:
        with self.log_path.open("ab") as log:  # read it when a pipeline test fails
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "workers"],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(scope="session")
def pipeline_worker(stack: Stack, gemini_fake: FakeGemini) -> Iterator[WorkerProcess]:
    from app.embedded import free_port

    # Gemini is the local fake for every live process, so analysis tests need no restart.
    env = service_env(
        stack,
        **PIPELINE_ENV,
        FUZE_REDIS_URL=live_redis_url(stack),
        FUZE_GEMINI_BASE_URL=gemini_fake.base_url,
        PROMETHEUS_MULTIPROC_DIR=metrics_dir(stack),
        FUZE_WORKER_METRICS_PORT=str(free_port()),
    )
    worker = WorkerProcess(env, stack.data_dir / "worker.log")
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def web() -> Iterator[Any]:
    from tests.fakes.web import FakeWeb

    server = FakeWeb().start()
    yield server
    server.stop()


@pytest.fixture
async def api(api_server: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the real API process; the users it registers are deleted afterwards."""
    async with httpx.AsyncClient(base_url=api_server, timeout=30) as c:
        yield c


@contextlib.asynccontextmanager
async def as_operator(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction on the app's engine that sees every user's rows (the system scope), for
    a test's own checks and clean-up."""
    async with engine.begin() as conn:
        await conn.exec_driver_sql(SYSTEM_SCOPE.sql(local=True))
        yield conn


@contextlib.asynccontextmanager
async def as_owner(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction on the app's engine as the tables' owner (the login role), as a
    migration or an operator's psql runs: for a test's DDL."""
    async with engine.begin() as conn:
        await conn.exec_driver_sql("SET LOCAL ROLE NONE")
        yield conn


async def analyze(conn: AsyncConnection, table: str) -> None:
    """ANALYZE a table on the test's connection: the tables' owner's to do, not the app's."""
    await conn.exec_driver_sql("SET LOCAL ROLE NONE")
    await conn.exec_driver_sql(f"ANALYZE {table}")
    await conn.exec_driver_sql("SET LOCAL ROLE fuze_app")


def owner_engine(stack: Stack) -> AsyncEngine:
    """An engine of the tables' owner (as migrations and an operator's psql are), to which
    row-level security does not apply: for tests that look at or change rows themselves."""
    return create_engine(make_settings(stack, database_role=""), pool_size=1, max_overflow=0)


async def _drop_user(stack: Stack, account: Account) -> None:
    """Delete the test's user. A worker may still be saving or embedding for it (a feed's
    items, say), so the cascade can lose a deadlock to that job: it is tried again, as the
    app's own transactions are."""
    from sqlalchemy import text

    from app.db import is_conflict

    engine = owner_engine(stack)
    try:
        for attempt in range(5):
            try:
                async with engine.begin() as conn:
                    await conn.execute(
                        text("DELETE FROM users WHERE username = :u"), {"u": account.username}
                    )
                return
            except Exception as exc:
                if not is_conflict(exc) or attempt == 4:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
    finally:
        await engine.dispose()


@pytest.fixture
async def api_user(api: httpx.AsyncClient, stack: Stack) -> AsyncIterator[Account]:
    account = await register_and_login(api)
    yield account
    await _drop_user(stack, account)


@pytest.fixture
async def api_user2(api: httpx.AsyncClient, stack: Stack) -> AsyncIterator[Account]:
    account = await register_and_login(api)
    yield account
    await _drop_user(stack, account)
