"""Engine, declarative Base, and the session dependency that commits once per request.

Services never commit: they `flush()`. The dependency commits after the route returns and
before the response is sent; jobs enqueued during the request are sent only after that
commit, so a worker never looks for a row that is not there yet.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
from fastapi import Request
from sqlalchemy import DateTime, MetaData, func
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.config import Settings
from app.errors import AppError, DatabaseUnavailable

log = logging.getLogger("fuze.db")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow, onupdate=utcnow
    )


# Candidates an HNSW scan collects before the per-user filter and the LIMIT (pgvector's
# default is 40). Search and recommendations read 100; with exactly 100, the first row another
# user owns sends the iterative scan on a second pass through the graph. Measured for a user
# with 100k of 110k rows (ef_search / p50 of the 100 nearest): 100 / 9-14 ms, 150 / 7.8 ms,
# 200 / 8.5 ms.
HNSW_EF_SEARCH = 150


def asyncpg_url(url: str) -> str:
    """Accept postgres://, postgresql:// or postgresql+asyncpg:// and use asyncpg."""
    for prefix in (
        "postgres://",
        "postgresql://",
        "postgresql+psycopg://",
        "postgresql+psycopg2://",
    ):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


# Per connection, for the ORM's pool and the read pool alike.
SERVER_SETTINGS = {
    "application_name": "fuze",
    # pgvector 0.8 (read when the extension loads in the session): HNSW scans keep walking
    # the graph until enough rows pass the per-user filter, instead of returning too few when
    # this user's rows are a small part of the index; set per connection, so that no search
    # pays a round trip for it.
    "hnsw.iterative_scan": "relaxed_order",
    "hnsw.ef_search": str(HNSW_EF_SEARCH),
    # Plan each execution of a prepared statement for its own values. Users' libraries differ
    # by orders of magnitude within one table: a generic plan, made for no user in
    # particular, reads a user's rows as if each user had the mean share of them (a
    # partition holding one large library and a new user: a sequential scan of the large
    # library for every search of the new one; tests/test_db.py). PostgreSQL's default
    # (`auto`) mostly keeps custom plans for statements over the partitioned vectors anyway,
    # since a generic plan cannot prune partitions when planned and is costed over all 16;
    # this makes it independent of cost estimates. No difference measured in search latency.
    "plan_cache_mode": "force_custom_plan",
    # Every statement here is short; LLVM compilation of one whose cost estimate crosses
    # jit_above_cost takes longer than running it (hundreds of ms).
    "jit": "off",
}


def create_engine(settings: Settings, url: str | None = None, **overrides: Any) -> AsyncEngine:
    target = url or settings.database_url
    if not target:
        raise RuntimeError("FUZE_DATABASE_URL is not set (run `fuze up` to start embedded servers)")
    options: dict[str, Any] = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_pre_ping": settings.db_pool_pre_ping,
        "pool_recycle": settings.db_pool_recycle,
        "connect_args": {"server_settings": dict(SERVER_SETTINGS)},
    }
    options.update(overrides)
    return create_async_engine(asyncpg_url(target), **options)


class ReadPool:
    """Plain asyncpg connections for the reads every request makes (who the bearer of a
    token is): one round trip each. The ORM's session costs more per request: a ping when a
    connection is checked out, BEGIN, the statement, COMMIT, and the ORM's own work, about
    2.5 ms in all on the 2-core machine against 0.2 ms here. Single statements outside any
    transaction only, so a connection has nothing to reset when it goes back.

    Opened at first use (the API starts while Postgres is down, like the engine); a
    connection that broke (a restarted server) is replaced and the statement tried once more.
    """

    def __init__(self, settings: Settings, url: str | None = None) -> None:
        target = asyncpg_url(url or settings.database_url or "")
        self._dsn = "postgresql://" + target.split("://", 1)[1] if "://" in target else target
        self._size = max(1, settings.db_pool_size)
        self._pool: Any = None
        self._lock = asyncio.Lock()

    async def _get(self) -> Any:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self._dsn,
                        min_size=1,
                        max_size=self._size,
                        # Small statements only: no parallel workers (the nearest-pages
                        # statement's unused branch would start them for nothing).
                        server_settings={**SERVER_SETTINGS, "max_parallel_workers_per_gather": "0"},
                        reset=_no_reset,
                        timeout=10,
                        max_inactive_connection_lifetime=300,
                    )
        return self._pool

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        return await self._run("fetchrow", sql, args)

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        return await self._run("fetch", sql, args)

    async def _run(self, method: str, sql: str, args: tuple[Any, ...]) -> Any:
        for attempt in (1, 2):
            try:
                pool = await self._get()
                return await getattr(pool, method)(sql, *args)
            except Exception as exc:
                # Any OSError here is the database's socket (refused, reset, unresolvable).
                if not (isinstance(exc, OSError) or is_unavailable(exc)):
                    raise
                if attempt == 2:
                    log.warning("database unreachable", exc_info=True)
                    raise DatabaseUnavailable() from exc
                # A server that restarted or cut its connections cut every idle one too:
                # replace them all, so the second try gets a fresh connection.
                if self._pool is not None:
                    await self._pool.expire_connections()
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


async def _no_reset(_: Any) -> None:
    """Nothing to reset: the read pool runs single statements outside transactions and
    changes no session state (asyncpg's default runs RESET ALL and more: a round trip)."""


# SQLSTATEs of a database that is not there for now: connection failures (08), the server
# shutting down, crashed, starting or in recovery (57P01-57P03), too many connections.
_UNAVAILABLE_STATES = ("08", "57P", "53300")
# A transaction that lost a deadlock or a serialization race: running it again succeeds.
_CONFLICT_STATES = frozenset({"40P01", "40001"})


# What the ORM and asyncpg raise (asyncpg's connect raises the socket's own errors unwrapped).
_DB_ERRORS = (
    sa_exc.SQLAlchemyError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    ConnectionError,
    TimeoutError,
)


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps: SQLAlchemy's `orig`, then each explicit cause."""
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(out) < 8:
        out.append(current)
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return out


def _sqlstates(exc: BaseException) -> list[str]:
    return [s for e in _causes(exc) if isinstance(s := getattr(e, "sqlstate", None), str)]


def is_unavailable(exc: BaseException) -> bool:
    """Whether this error means the database is not reachable now (not that a statement was
    wrong): from the ORM (a connection SQLAlchemy invalidated, a full pool) or asyncpg."""
    if not isinstance(exc, _DB_ERRORS):
        return False
    for e in _causes(exc):
        if isinstance(e, sa_exc.DBAPIError) and e.connection_invalidated:
            return True
        if isinstance(e, (ConnectionError, TimeoutError, sa_exc.TimeoutError)):
            return True
        if isinstance(e, asyncpg.InterfaceError) and "closed" in str(e):
            return True
        # A connection the server cut while asyncpg was between two messages is left in a
        # protocol state it cannot leave ("another operation is in progress").
        if isinstance(e, asyncpg.InternalClientError) and "in progress" in str(e):
            return True
    return any(s.startswith(_UNAVAILABLE_STATES) for s in _sqlstates(exc))


def is_timeout(exc: BaseException) -> bool:
    """Whether waiting (for a connection, for the pool) is what failed: trying again at once
    would only wait as long once more."""
    return any(isinstance(e, (TimeoutError, sa_exc.TimeoutError)) for e in _causes(exc))


def is_conflict(exc: BaseException) -> bool:
    """Whether this error is a deadlock or serialization failure, which a retry resolves."""
    if not isinstance(exc, (sa_exc.SQLAlchemyError, asyncpg.PostgresError)):
        return False
    return any(s in _CONFLICT_STATES for s in _sqlstates(exc))


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def enqueue_after_commit(session: AsyncSession, function: str, *args: Any, **kwargs: Any) -> None:
    """Buffer an arq job; it is sent once the request's transaction has committed."""
    session.info.setdefault("pending_jobs", []).append((function, args, kwargs))


def publish_after_commit(session: AsyncSession, channel: str, message: str) -> None:
    """Buffer a pub/sub message; it is published once the request's transaction has
    committed, so a listener that reads the database on hearing it sees the change."""
    session.info.setdefault("pending_messages", []).append((channel, message))


async def send_pending_jobs(session: AsyncSession, redis: Any) -> None:
    """Send what the committed transaction buffered: arq jobs, then pub/sub messages."""
    jobs = session.info.pop("pending_jobs", [])
    for function, args, kwargs in jobs:
        try:
            await redis.enqueue_job(function, *args, **kwargs)
        except Exception:  # Redis down: the row is saved; the sweeper re-enqueues it later.
            log.warning("could not enqueue job", extra={"job": function}, exc_info=True)
    for channel, message in session.info.pop("pending_messages", []):
        try:
            await redis.publish(channel, message)
        except Exception:  # Redis down: listeners also re-check on a timer
            log.warning("could not publish", extra={"channel": channel}, exc_info=True)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with maker() as session:
        try:
            yield session
            await session.commit()
        except AppError as exc:
            if exc.keep_changes:
                await session.commit()
                await send_pending_jobs(session, request.app.state.redis)
            else:
                await session.rollback()
            raise
        except BaseException:
            await session.rollback()
            raise
        await send_pending_jobs(session, request.app.state.redis)
