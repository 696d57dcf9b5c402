"""Engine, declarative Base, and the session dependency that commits once per request;
the read pool of plain asyncpg connections; whose rows a transaction may see.

Services never commit: they `flush()`. The dependency commits after the route returns and
before the response is sent; jobs enqueued during the request are sent only after that
commit, so a worker never looks for a row that is not there yet.

The app connects as a role that owns no table, so row-level security applies: a session is
bound to its user (bind_user) or to the system scope (bind_system) before it reads, and
ReadPool statements name their user (docs/security.md). ReadPool runs the fixed statements
every request or search makes (authentication, the plain search) without an ORM session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
from fastapi import Request
from sqlalchemy import Connection, DateTime, MetaData, event, func
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, ORMExecuteState, Session, mapped_column
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.util import await_

from app.config import Settings
from app.errors import AppError, DatabaseUnavailable
from app.metrics import DB_READS
from app.replicas import PRIMARY_LSN, REPLICA_STATE, Replica, WriteMarks

log = logging.getLogger("fuze.db")
T = TypeVar("T")

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
    # The read pool's statements whose best plan is the same for every user ask for generic
    # plans instead (ReadPool.fetch's `generic`).
    "plan_cache_mode": "force_custom_plan",
    # Every statement here is short; LLVM compilation of one whose cost estimate crosses
    # jit_above_cost takes longer than running it (hundreds of ms).
    "jit": "off",
}


def server_settings(settings: Settings) -> dict[str, str]:
    """SERVER_SETTINGS, and the role the app acts as (row-level security: app.db's Scope)."""
    values = dict(SERVER_SETTINGS)
    if settings.database_role:
        # A startup parameter, as if `SET ROLE` ran first: no round trip of its own.
        values["role"] = settings.database_role
    return values


def create_engine(settings: Settings, url: str | None = None, **overrides: Any) -> AsyncEngine:
    target = url or settings.database_url
    if not target:
        raise RuntimeError("FUZE_DATABASE_URL is not set (run `fuze up` to start embedded servers)")
    options: dict[str, Any] = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_recycle": settings.db_pool_recycle,
        "connect_args": {
            "server_settings": server_settings(settings),
            "connection_class": ScopedConnection,
        },
    }
    options.update(overrides)
    engine = create_async_engine(asyncpg_url(target), **options)
    event.listen(engine.sync_engine, "checkin", _back_in_pool)
    if settings.db_pool_pre_ping:
        event.listen(engine.sync_engine, "checkout", _check_out)
    return engine


# A pooled connection back in use within this long is not pinged (HikariCP's bypass window
# is the same 0.5 s): one the server closed meanwhile (a restart, a failover, a terminated
# backend) is known closed without a round trip, since the event loop reads the socket and
# asyncpg marks it closed when the server says goodbye.
PING_IDLE_SECONDS = 0.5
# A ping unanswered this long: the connection is taken for dead (a firewall or NAT that dropped
# it silently never closes it), rather than holding the request until TCP gives up.
PING_TIMEOUT_SECONDS = 5.0
_CHECKED_IN = "fuze_checked_in"


def _check_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """The ORM pool's check before a connection is used (FUZE_DB_POOL_PRE_PING). A connection
    the server closed is replaced, with every connection the pool opened before it (the
    server restarted, most likely), as SQLAlchemy's own pre-ping does; one idle for over
    PING_IDLE_SECONDS that does not answer `;` within PING_TIMEOUT_SECONDS is replaced.

    SQLAlchemy's pre-ping for asyncpg costs three round trips on every checkout (BEGIN, `;`,
    ROLLBACK, for pgbouncer's transaction mode); the pipeline's jobs open a session per step,
    and those pings were 8 % of the worker's event loop importing pages."""
    driver = dbapi_connection.driver_connection
    if driver.is_closed():
        raise sa_exc.InvalidatePoolError("the server closed this pooled connection")
    checked_in = record.info.get(_CHECKED_IN)
    if checked_in is None or time.monotonic() - checked_in < PING_IDLE_SECONDS:
        return  # new, or in use a moment ago
    try:
        await_(driver.execute(";", timeout=PING_TIMEOUT_SECONDS))
    except Exception as exc:  # the server is gone, or the connection broken or silent
        # This one only: the others idle as long are pinged in turn, and a ping slowed by a
        # busy server must not make the pool reopen every connection at once.
        raise sa_exc.DisconnectionError(f"pooled connection failed its ping: {exc!r}") from exc


# Row-level security (alembic revision a7c8d9e0f1a2): the app's role sees the rows of the
# user named by `fuze.user_id`, or every row when `fuze.scope` is 'system', or none. An ORM
# session says which with bind_user / bind_system; the read pool takes it per statement.
SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Scope:
    user_id: uuid.UUID | None = None
    system: bool = False
    # Statements on generic plans: a transaction of a session opened with info=KEYED, or a
    # read pool statement asked for with `generic` (ReadPool.fetch).
    generic: bool = False

    def sql(self, local: bool) -> str:
        """The statement that sets it: values from a UUID and a constant, so literals are safe
        (a simple-protocol statement takes no parameters)."""
        user = str(uuid.UUID(str(self.user_id))) if self.user_id else ""  # a UUID, or raise
        scope = SYSTEM if self.system else ""
        flag = "true" if local else "false"
        # A transaction's setting ends with it; a connection's (the read pool's) is set
        # either way, since it stays until the next.
        mode = "force_generic_plan" if self.generic else SERVER_SETTINGS["plan_cache_mode"]
        plans = f", set_config('plan_cache_mode', '{mode}', {flag})"
        return (
            f"SELECT set_config('fuze.user_id', '{user}', {flag}),"
            f" set_config('fuze.scope', '{scope}', {flag})"
            f"{plans if self.generic or not local else ''}"
        )


SYSTEM_SCOPE = Scope(system=True)
NO_SCOPE = Scope()

# A session opened with `sessionmaker(info=KEYED)` runs its transactions on generic plans
# (SET LOCAL: they end with the transaction): for work that reads and writes rows by key only,
# a job's bookmark by its id, whose plans are the same for every user. The rest plan each
# statement for its values (SERVER_SETTINGS).
KEYED = {"keyed": True}


def _scope_of(info: dict[str, Any], scope: Scope) -> Scope:
    return replace(scope, generic=True) if info.get("keyed") and not scope.generic else scope


class ScopedConnection(asyncpg.Connection):  # type: ignore[misc]
    """An asyncpg connection that sets a transaction's scope in the statement that begins it.

    SQLAlchemy begins a transaction on asyncpg lazily, with `BEGIN` sent through execute()
    just before the first statement; app.db's after_begin listener leaves the session's scope
    here first, and the scope goes out in the same message as `BEGIN` (the simple protocol
    runs several statements at once): no round trip of its own. For the read pool, `scope`
    remembers what this connection was last set to, so that a statement for the same user
    sets nothing.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending_scope: Scope | None = None
        # None: not known (a statement that set it did not finish). A new connection has no
        # user and the server's plans.
        self.scope: Scope | None = NO_SCOPE

    async def execute(self, query: str, *args: Any, **kwargs: Any) -> str:
        pending = self.pending_scope
        if pending is not None and not args and query.startswith("BEGIN"):
            self.pending_scope = None
            query = f"{query.rstrip(';')}; {pending.sql(local=True)};"
        return await super().execute(query, *args, **kwargs)

    async def use(self, scope: Scope) -> None:
        """Make `scope` this connection's own (outside transactions: the read pool)."""
        if self.scope != scope:
            self.scope = None  # unknown until the statement has run
            await super().execute(scope.sql(local=False))
            self.scope = scope

    def remember(self, user_id: uuid.UUID) -> None:
        """The user a statement just made this connection's by itself, its plans as they
        were (if those are not known, the next statement sets everything)."""
        self.scope = replace(self.scope, user_id=user_id, system=False) if self.scope else None


def _back_in_pool(dbapi_connection: Any, record: Any) -> None:
    """A connection back in the ORM's pool keeps no scope for the next session's BEGIN (or
    the pool's ping) to send; when it came back is noted for _check_out."""
    record.info[_CHECKED_IN] = time.monotonic()
    driver = getattr(dbapi_connection, "driver_connection", None)
    if isinstance(driver, ScopedConnection):
        driver.pending_scope = None


def _bind(session: AsyncSession, scope: Scope) -> Scope:
    """Run the session's next transactions in `scope` (from their BEGIN)."""
    info = session.sync_session.info
    info["scope"] = scope = _scope_of(info, scope)
    return scope


async def bind_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Work for this user: other users' rows are out of sight and out of reach."""
    await _bind_now(session, Scope(user_id=user_id))


async def bind_system(session: AsyncSession) -> None:
    """Work across users, in the named places that must (sign-in, sign-up, sweepers, admin)."""
    await _bind_now(session, SYSTEM_SCOPE)


async def session_fetch(session: AsyncSession, sql: str, *args: Any) -> list[Any]:
    """The rows of a plain statement ($1... parameters, as ReadPool.fetch takes them) in the
    session's transaction and scope: a read that must see what the session just wrote."""
    connection = await session.connection()
    return list(await connection.exec_driver_sql(sql, args))


async def get_for_owner(session: AsyncSession, model: Any, key: Any, **options: Any) -> Any:
    """A row (of a model with user_id) by primary key, looked up across users, after which
    the session works for the row's owner: how a job that was handed an id starts."""
    await bind_system(session)
    row = await session.get(model, key, **options)
    if row is not None:
        await bind_user(session, row.user_id)
    return row


async def _bind_now(session: AsyncSession, scope: Scope) -> None:
    """_bind, and the transaction under way, if any, from now on."""
    scope = _bind(session, scope)
    for connection in session.sync_session.info.get("scoped_connections", ()):
        # Begun already: BEGIN may not have gone out yet (then it takes this scope instead),
        # or it has, and the scope needs a statement of its own.
        driver = connection.connection.driver_connection
        if isinstance(driver, ScopedConnection) and driver.pending_scope is not None:
            driver.pending_scope = scope
        else:
            await session.run_sync(lambda _s, c=connection: c.exec_driver_sql(scope.sql(True)))


@event.listens_for(Session, "after_begin")
def _scope_transaction(session: Session, _transaction: Any, connection: Connection) -> None:
    scope = _scope_of(session.info, session.info.get("scope", NO_SCOPE))
    session.info.setdefault("scoped_connections", []).append(connection)
    driver = connection.connection.driver_connection
    if isinstance(driver, ScopedConnection) and not driver.is_in_transaction():
        driver.pending_scope = scope  # sent with BEGIN
    else:
        # Inside a transaction already (a savepoint on a connection that began elsewhere, as
        # the tests' sessions are), or not asyncpg: a statement of its own.
        connection.exec_driver_sql(scope.sql(local=True))


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop("scoped_connections", None)


# Read-after-write (app.replicas): whose data a transaction changed, so that after its commit
# those users read from a standby only once it has replayed the commit. ORM changes name their
# rows' users; a statement (UPDATE, DELETE, text) names the session's user; the places that
# change another user's rows in the system scope say so with wrote_for.
_WRITTEN = "written_users"


def wrote_for(session: AsyncSession | Session, user_id: uuid.UUID) -> None:
    """This transaction changes `user_id`'s data (read-after-write)."""
    session.info.setdefault(_WRITTEN, set()).add(user_id)


def _wrote_as_scope(session: Session) -> None:
    scope = session.info.get("scope")
    if scope is not None and scope.user_id is not None:
        wrote_for(session, scope.user_id)


@event.listens_for(Session, "after_flush")
def _note_flush(session: Session, _context: Any) -> None:
    _wrote_as_scope(session)
    for row in (*session.new, *session.dirty, *session.deleted):
        owner = row.id if getattr(row, "__tablename__", None) == "users" else None
        owner = owner or getattr(row, "user_id", None)
        if isinstance(owner, uuid.UUID):
            wrote_for(session, owner)


@event.listens_for(Session, "do_orm_execute")
def _note_statement(state: ORMExecuteState) -> None:
    statement = state.statement
    if isinstance(statement, TextClause):
        writes = not statement.text.lstrip().upper().startswith("SELECT")
    else:
        writes = state.is_insert or state.is_update or state.is_delete
    if writes:
        _wrote_as_scope(state.session)


class _MarkingSession(AsyncSession):
    """A session that, after each commit, records whose data it changed (the read pool's
    record_writes): one more round trip to the primary and one to Redis, after a write only."""

    async def commit(self) -> None:
        await super().commit()
        written = self.sync_session.info.pop(_WRITTEN, None)
        reads: ReadPool | None = self.sync_session.info.get("read_pool")
        if written and reads is not None:
            await reads.record_writes(written)

    async def rollback(self) -> None:
        self.sync_session.info.pop(_WRITTEN, None)
        await super().rollback()


class ReadPool:
    """Plain asyncpg connections for the reads every request makes (who the bearer of a
    token is): one round trip each. The ORM's session costs more per request: a ping when a
    connection is checked out, BEGIN, the statement, COMMIT, and the ORM's own work, about
    2.5 ms in all on the 2-core machine against 0.2 ms here. Single statements outside any
    transaction only, so a connection has nothing to reset when it goes back.

    Opened at first use (the API starts while Postgres is down, like the engine); a
    connection that broke (a restarted server) is replaced and the statement tried once more.

    With read replicas (FUZE_DATABASE_READ_URLS, app.replicas), a statement goes to a standby
    that is up, within the lag bound and, for a user, has replayed that user's last write
    (read-after-write: the marker record_writes left in Redis); otherwise, or when the
    standby fails it, to the primary. `stats()` says where the reads went.
    """

    def __init__(self, settings: Settings, url: str | None = None, redis: Any = None) -> None:
        self._app_settings = settings
        self._dsn = _plain_dsn(url or settings.database_url or "")
        self._size = max(1, settings.db_pool_size)
        self._settings = {
            **server_settings(settings),
            # Small statements only: no parallel workers (the nearest-pages statement's
            # unused branch would start them for nothing).
            "max_parallel_workers_per_gather": "0",
        }
        self._pool: Any = None
        self._lock = asyncio.Lock()
        self.primary_reads = 0
        self.replicas = [
            Replica(f"replica{n}", _plain_dsn(u))
            for n, u in enumerate(settings.database_read_urls if url is None else [])
        ]
        self._max_lag = settings.read_replica_max_lag_seconds
        self._poll = settings.read_replica_poll_seconds
        self._retry = settings.read_replica_retry_seconds
        # Longer than a standby that is still used (within the lag bound) can be behind.
        self._marks = (
            WriteMarks(redis, ttl=max(60, math.ceil(self._max_lag * 10)))
            if self.replicas and redis is not None
            else None
        )
        self._turn = 0

    def _create_pool(self, dsn: str, timeout: float) -> Any:
        return asyncpg.create_pool(
            dsn,
            min_size=1,
            max_size=self._size,
            server_settings=self._settings,
            connection_class=ScopedConnection,
            reset=_no_reset,
            timeout=timeout,
            max_inactive_connection_lifetime=300,
        )

    async def _get(self) -> Any:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    self._pool = await self._create_pool(self._dsn, 10)
        return self._pool

    async def fetchrow(self, sql: str, *args: Any, user: uuid.UUID, generic: bool = False) -> Any:
        """The first row of `sql`, as `user` sees the database (`generic`: see fetch)."""
        rows = await self._run(sql, args, Scope(user_id=user, generic=generic))
        return rows[0] if rows else None

    async def fetch(
        self, sql: str, *args: Any, user: uuid.UUID, generic: bool = False
    ) -> list[Any]:
        """The rows of `sql`, as `user` sees the database.

        `generic=True` runs the statement on a generic plan, made once per connection and
        kept, instead of one planned for these values each time (SERVER_SETTINGS'
        force_custom_plan): only for statements whose best plan is the same for every user
        and every value (rows by their ids, a user by key, the library's first pages). For
        them, planning cost more than running: on the 500-bookmark benchmark database a
        request's user 0.28 -> 0.12 ms, the cards of 20 results 0.66 -> 0.23 ms."""
        return await self._run(sql, args, Scope(user_id=user, generic=generic))

    async def fetch_owner(self, sql: str, *args: Any) -> Any:
        """The first row of `sql`, a SECURITY DEFINER function that finds whom a credential
        belongs to (before anyone is known) and makes that user, the row's `id`, the
        connection's scope (fuze_user_by_api_token)."""
        rows = await self._run(sql, args, None)
        return rows[0] if rows else None

    async def _run(self, sql: str, args: tuple[Any, ...], scope: Scope | None) -> Any:
        replica = await self._replica_for(scope) if self.replicas else None
        if replica is not None:
            try:
                pool = await self._replica_pool(replica)
                async with pool.acquire() as conn:
                    rows = await self._statement(conn, sql, args, scope)
            except Exception as exc:
                # Down, refusing, or a statement cancelled by a conflict with recovery: the
                # primary answers instead, and only the first two rest the standby.
                unavailable = isinstance(exc, OSError) or is_unavailable(exc)
                if not (unavailable or is_conflict(exc)):
                    raise
                if unavailable:
                    await self._rest(replica, exc)
            else:
                # Whose row a credential found is known only now: that user's last write
                # must be on this standby too, and a credential it does not know (yet) is
                # asked of the primary.
                if scope is not None or (rows and await self._caught_up(replica, rows[0]["id"])):
                    replica.reads += 1
                    DB_READS.labels("replica").inc()
                    return rows
        for attempt in (1, 2):
            try:
                pool = await self._get()
                async with pool.acquire() as conn:
                    rows = await self._statement(conn, sql, args, scope)
                    self.primary_reads += 1
                    DB_READS.labels("primary").inc()
                    return rows
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

    @staticmethod
    async def _statement(conn: Any, sql: str, args: tuple[Any, ...], scope: Scope | None) -> Any:
        # Each connection keeps the scope it was last set to (its user and its plans): the
        # next statement for the same user, planned the same way, sets nothing.
        if scope is not None:
            await conn.use(scope)
        rows = await conn.fetch(sql, *args)
        if scope is None and rows:
            conn.remember(uuid.UUID(bytes=rows[0]["id"].bytes))
        return rows

    async def _replica_for(self, scope: Scope | None) -> Replica | None:
        """A standby this statement may read, or None for the primary."""
        now = time.monotonic()
        usable = []
        for replica in self.replicas:
            if replica.due(now, self._poll):
                replica.polling = asyncio.create_task(self._poll_replica(replica))
            if replica.usable(now, self._max_lag):
                usable.append(replica)
        if not usable:
            return None
        if scope is not None and scope.user_id is not None:
            written = await self._written(scope.user_id)
            if written is None:
                return None
            usable = [r for r in usable if r.lsn is not None and r.lsn >= written]
            if not usable:
                return None
        self._turn += 1
        return usable[self._turn % len(usable)]

    async def read(
        self,
        user_id: uuid.UUID,
        work: Callable[[AsyncSession], Awaitable[T]],
        primary: AsyncSession | async_sessionmaker[AsyncSession],
    ) -> T:
        """`work(session)` in an ORM session of this user's on a standby, when one may serve
        them (as for the pool's own statements), else on the primary: the request's own
        session, or a new one from a sessionmaker. A standby that fails it hands it to the
        primary, so `work` must only read (it may run twice)."""
        replica = await self._replica_for(Scope(user_id=user_id)) if self.replicas else None
        if replica is not None:
            try:
                async with self._replica_sessions(replica)() as session:
                    await bind_user(session, user_id)
                    result = await work(session)
                replica.reads += 1
                DB_READS.labels("replica").inc()
                return result
            except Exception as exc:
                unavailable = isinstance(exc, OSError) or is_unavailable(exc)
                if not (unavailable or is_conflict(exc)):
                    raise
                if unavailable:
                    await self._rest(replica, exc)
        self.primary_reads += 1
        DB_READS.labels("primary").inc()
        if isinstance(primary, AsyncSession):
            return await work(primary)
        async with primary() as session:
            await bind_user(session, user_id)
            return await work(session)

    def _replica_sessions(self, replica: Replica) -> async_sessionmaker[AsyncSession]:
        if replica.sessions is None:
            replica.engine = create_engine(self._app_settings, url=replica.dsn)
            replica.sessions = create_sessionmaker(replica.engine)
        return replica.sessions

    async def _written(self, user: Any) -> int | None:
        """Where the primary's WAL stood after the user's last write; None when that cannot
        be known (Redis down, or no Redis): then only the primary is safe."""
        if self._marks is None:
            return None
        try:
            return await self._marks.get(uuid.UUID(str(user)))
        except Exception:
            log.debug("read-after-write marker unreadable: reading from the primary")
            return None

    async def _caught_up(self, replica: Replica, user: Any) -> bool:
        written = await self._written(user)
        return written is not None and replica.lsn is not None and replica.lsn >= written

    async def _replica_pool(self, replica: Replica) -> Any:
        if replica.pool is None:
            async with replica.lock:
                if replica.pool is None:
                    # A standby that does not answer is given up sooner than the primary.
                    replica.pool = await self._create_pool(replica.dsn, 5)
        return replica.pool

    async def _poll_replica(self, replica: Replica) -> None:
        try:
            pool = await self._replica_pool(replica)
            async with pool.acquire() as conn:
                row = await conn.fetchrow(REPLICA_STATE)
        except Exception as exc:
            await self._rest(replica, exc)
        else:
            replica.polled(row["lsn"], row["lag"])
            if replica.lag is not None and replica.lag > self._max_lag:
                log.info("read replica %s is %.1f s behind", replica.label, replica.lag)

    async def _rest(self, replica: Replica, exc: BaseException) -> None:
        replica.failed(self._retry, exc)
        # A new pool at the next poll: the old one would keep reconnecting to restore its
        # floor (and log each failure) while the standby is down.
        pool, replica.pool = replica.pool, None
        if pool is not None:
            pool.terminate()
        if replica.engine is not None:
            with contextlib.suppress(Exception):
                await replica.engine.dispose()

    async def record_writes(self, users: set[uuid.UUID]) -> None:
        """After a commit that changed these users' data: their reads need a standby that has
        replayed at least this far. Without it (Redis down), a standby that has not may
        serve them stale rows until it catches up."""
        if self._marks is None or not users:
            return
        try:
            pool = await self._get()
            async with pool.acquire() as conn:
                lsn = int(await conn.fetchval(PRIMARY_LSN))
            await self._marks.record(users, lsn)
        except Exception:
            log.warning("could not record a read-after-write marker", exc_info=True)

    def stats(self) -> dict[str, Any]:
        """Reads by target (`primary`, `replica`: for a metrics exporter) and each standby's
        state: usable, lag in seconds, replay position, its reads and failures."""
        now = time.monotonic()
        replicas = [r.stats(now, self._max_lag) for r in self.replicas]
        return {
            "reads": {
                "primary": self.primary_reads,
                "replica": sum(r.reads for r in self.replicas),
            },
            "replicas": replicas,
        }

    async def close(self) -> None:
        for replica in self.replicas:
            if replica.polling is not None and not replica.polling.done():
                replica.polling.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await replica.polling
            if replica.pool is not None:
                await replica.pool.close()
                replica.pool = None
            if replica.engine is not None:
                await replica.engine.dispose()
                replica.engine = replica.sessions = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def _plain_dsn(url: str) -> str:
    """A URL as asyncpg's own connect takes it (postgresql://)."""
    target = asyncpg_url(url)
    return "postgresql://" + target.split("://", 1)[1] if "://" in target else target


async def _no_reset(_: Any) -> None:
    """Nothing to reset: the read pool runs single statements outside transactions, and the
    one session state it changes, the scope, a connection keeps on purpose (asyncpg's
    default runs RESET ALL and more: a round trip)."""


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


def create_sessionmaker(
    engine: AsyncEngine, reads: ReadPool | None = None
) -> async_sessionmaker[AsyncSession]:
    """Sessions on the primary; with read replicas, sessions that leave read-after-write
    markers through `reads` when they commit."""
    if reads is not None and reads.replicas:
        return async_sessionmaker(
            engine,
            class_=_MarkingSession,
            expire_on_commit=False,
            autoflush=False,
            info={"read_pool": reads},
        )
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def enqueue_after_commit(session: AsyncSession, function: str, *args: Any, **kwargs: Any) -> None:
    """Buffer an arq job; it is sent once the request's transaction has committed."""
    session.info.setdefault("pending_jobs", []).append((function, args, kwargs))


def publish_after_commit(session: AsyncSession, channel: str, message: str) -> None:
    """Buffer a pub/sub message; it is published once the request's transaction has
    committed, so a listener that reads the database on hearing it sees the change."""
    session.info.setdefault("pending_messages", []).append((channel, message))


def after_commit(session: AsyncSession, callback: Callable[[], Awaitable[None]]) -> None:
    """Run `callback` once the request's transaction has committed (before the answer is
    sent); it must not raise."""
    session.info.setdefault("after_commit", []).append(callback)


async def send_pending_jobs(session: AsyncSession, redis: Any) -> None:
    """Send what the committed transaction buffered: arq jobs, then pub/sub messages, then
    the after_commit callbacks."""
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
    for callback in session.info.pop("after_commit", []):
        await callback()


# Where a request keeps its ORM session and who it is for (app.deps): each finds the other
# whichever comes first, and the session takes the user in.
REQUEST_SESSION = "fuze.session"
AUTHENTICATED = "fuze.authenticated"


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with maker() as session:
        # In the request's scope while it is open, not after (request_session closes it
        # before the route ends).
        request.scope[REQUEST_SESSION] = session
        try:
            found = request.scope.get(AUTHENTICATED)  # app.auth.service.Authenticated
            if found is not None:
                await found.attach_to(session)
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
        finally:
            request.scope.pop(REQUEST_SESSION, None)
        await send_pending_jobs(session, request.app.state.redis)


# The request's session where a route needs one only some of the time (a filter, a cache
# miss): `async with request_session(request) as session:` opens, commits or rolls back and
# closes it as SessionDep does, around that part alone. The rest reads through the read pool
# with no ORM session at all (about 0.1 ms of the API's CPU a request: the session, the user
# taken in, the empty commit and FastAPI's handling of a dependency that yields).
request_session = contextlib.asynccontextmanager(get_session)
