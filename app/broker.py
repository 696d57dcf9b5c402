"""The one Redis connection pool of a process: arq's client, the cache, rate limits, pub/sub.

Redis is one server (`FUZE_REDIS_URL=redis://host:6379/0`) or a primary with replicas watched
by Sentinel (`redis+sentinel://host:26379,host:26379/master/0`, or FUZE_REDIS_SENTINELS and
FUZE_REDIS_SENTINEL_MASTER). With Sentinel every new connection asks the sentinels where the
primary is, and a command cut off by a failover (connection refused or reset, or a demoted
primary answering READONLY) is sent again with backoff until the promoted replica answers:
callers see a slow command, not an error, for as long as the failover takes.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit
from uuid import uuid4

from arq.connections import ArqRedis, RedisSettings
from arq.constants import default_queue_name, job_key_prefix, result_key_prefix
from arq.jobs import Job, serialize_job
from arq.utils import timestamp_ms, to_ms, to_unix_ms
from redis.asyncio import ConnectionPool
from redis.asyncio.connection import DefaultParser
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, NoScriptError, ReadOnlyError, TimeoutError
from redis.utils import HIREDIS_AVAILABLE

from app.config import Settings

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379


class PooledReplyParser(DefaultParser):  # type: ignore[misc, valid-type]
    """redis-py's hiredis parser, with a cheaper answer to the pool's question before each
    command: is anything left to read on this connection (a reply never read, or the
    server's close)?

    redis-py asks by reading under a timeout of 0, which costs a task cancellation on every
    command: 30 us of the API's CPU per command at c8 (70 -> 38 us per GET,
    bench/overheads.py). The stream reader already holds whatever the event loop has
    received, the server's close included, so this looks there first and reads (redis-py's
    way) only when something is there. Something that arrives after the look is met as it
    would be after redis-py's read: by the command, as a connection error."""

    async def can_read_destructive(self) -> bool:
        stream = self._stream
        if (
            self._connected
            and stream is not None
            and not self._reader.has_data()
            and not stream._buffer  # asyncio.StreamReader's received bytes
            and not stream.at_eof()
        ):
            return False
        return await super().can_read_destructive()  # type: ignore[no-any-return]


# Short timeouts: when Redis is down, requests must fall back quickly instead of hanging.
_CONNECTION: dict[str, Any] = {
    "socket_connect_timeout": 1.0,
    "socket_timeout": 2.0,
    "health_check_interval": 30,
    "max_connections": 100,
}
if HIREDIS_AVAILABLE:  # arq requires redis[hiredis]; DefaultParser is hiredis's then
    _CONNECTION["parser_class"] = PooledReplyParser
# How long a command keeps trying without a primary: Sentinel's down-after-milliseconds (5 s
# under `fuze services --redis-ha`) plus the election, with room to spare. A command already
# on a connection may spend it twice (its reconnect retries too); with Redis gone for good,
# callers then fall back as they do without Sentinel (app/ratelimit.py, the sweeper).
FAILOVER_BUDGET_SECONDS = 15.0


@dataclass(frozen=True)
class RedisTarget:
    """Where Redis is: one server's URL, or the sentinels and the name of the primary."""

    url: str | None = None
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = "fuze"
    db: int = 0
    username: str | None = None
    password: str | None = None

    @property
    def sentinel(self) -> bool:
        return bool(self.sentinels)


def parse_hosts(value: str | list[str], default_port: int = SENTINEL_PORT) -> list[tuple[str, int]]:
    """`host:port,host:port` (an IPv6 address in brackets) as (host, port) pairs."""
    items = value.split(",") if isinstance(value, str) else value
    hosts = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        host, port = item, default_port
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            if rest.startswith(":"):
                port = int(rest[1:])
        elif item.count(":") == 1:
            host, _, number = item.partition(":")
            port = int(number)
        if not host:
            raise ValueError(f"a sentinel address needs a host: {item!r}")
        hosts.append((host, port))
    return hosts


def _sentinel_url(url: str) -> RedisTarget:
    # urlsplit cannot read several hosts; take the netloc apart by hand.
    rest = url.split("://", 1)[1]
    netloc, _, path = rest.partition("/")
    userinfo, _, hostlist = netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if not parts:
        raise ValueError(f"{SENTINEL_SCHEME} URL needs the primary's name: .../<name>[/<db>]")
    return RedisTarget(
        sentinels=tuple(parse_hosts(hostlist)),
        master=unquote(parts[0]),
        db=int(parts[1]) if len(parts) > 1 else 0,
        username=unquote(username) or None,
        password=unquote(password) or None,
    )


def redis_target(settings: Settings, url: str | None = None) -> RedisTarget:
    """`url` (a test's own database) or the settings, as a RedisTarget."""
    url = url or settings.redis_url
    if url and url.split("://", 1)[0] == SENTINEL_SCHEME:
        target = _sentinel_url(url)
        if not target.sentinels:
            raise ValueError(f"{SENTINEL_SCHEME} URL names no sentinel: {url}")
        return target
    if settings.redis_sentinels:
        parts = urlsplit(url or "redis://")
        return RedisTarget(
            sentinels=tuple(parse_hosts(settings.redis_sentinels)),
            master=settings.redis_sentinel_master,
            db=int(parts.path.strip("/") or 0),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )
    if not url:
        raise RuntimeError("FUZE_REDIS_URL is not set (run `fuze up` to start embedded servers)")
    return RedisTarget(url=url)


class FailoverRetry(Retry):
    """redis-py's Retry bounded by time instead of a count of tries: a failover takes seconds
    whatever the backoff, and a fixed count gave anything from 5 s to a minute here (redis-py
    nests the reconnect's retries inside the command's)."""

    __slots__ = ("budget",)

    def __init__(self, budget: float = FAILOVER_BUDGET_SECONDS) -> None:
        super().__init__(ExponentialBackoff(cap=0.5, base=0.025), retries=-1)
        self.budget = budget

    async def call_with_retry(self, do: Any, fail: Any) -> Any:
        self._backoff.reset()
        deadline = time.monotonic() + self.budget
        failures = 0
        while True:
            try:
                return await do()
            except self._supported_errors as error:
                failures += 1
                await fail(error)
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(self._backoff.compute(failures))


def failover_retry() -> dict[str, Any]:
    return {
        "retry": FailoverRetry(),
        "retry_on_error": [ConnectionError, TimeoutError, ReadOnlyError],
    }


# arq's enqueue, as one script: the job is queued unless a job or a result with its id is
# there already (what arq checks under WATCH, in three round trips).
_ENQUEUE = """
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then return 0 end
redis.call('PSETEX', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
return 1
"""
_ENQUEUE_SHA = hashlib.sha1(_ENQUEUE.encode()).hexdigest()


class FuzeRedis(ArqRedis):
    """arq's client, with an enqueue in one round trip.

    arq enqueues under WATCH: WATCH, EXISTS, then MULTI/PSETEX/ZADD/EXEC, three round trips
    for every job (a save queues one, and each page's pipeline about seven), and a connection
    cut while watching reads as "a job with this id exists": at a failover the job was
    dropped. Here one script checks and queues atomically, with arq's keys, job format and
    answer (None: a job or a result with this id is there already). Sent again after a
    failover, it finds the job it queued the first time; job ids are deterministic
    (`_job_id`), so nothing is ever queued twice."""

    async def enqueue_job(  # type: ignore[override]
        self,
        function: str,
        *args: Any,
        _job_id: str | None = None,
        _queue_name: str | None = None,
        _defer_until: datetime | None = None,
        _defer_by: int | float | timedelta | None = None,
        _expires: int | float | timedelta | None = None,
        _job_try: int | None = None,
        **kwargs: Any,
    ) -> Job | None:
        if _defer_until and _defer_by:
            raise RuntimeError("use either 'defer_until' or 'defer_by' or neither, not both")
        queue = _queue_name or self.default_queue_name
        job_id = _job_id or uuid4().hex
        now = timestamp_ms()
        if _defer_until is not None:
            score = to_unix_ms(_defer_until)
        else:
            score = now + (to_ms(_defer_by) or 0)
        expires = to_ms(_expires) or score - now + self.expires_extra_ms
        job = serialize_job(function, args, kwargs, _job_try, now, serializer=self.job_serializer)
        keys = (job_key_prefix + job_id, result_key_prefix + job_id, queue)
        values = (expires, job, score, job_id)
        try:
            queued = await self.evalsha(_ENQUEUE_SHA, 3, *keys, *values)
        except NoScriptError:  # a new server (a restart, a failover): EVAL caches it there
            queued = await self.eval(_ENQUEUE, 3, *keys, *values)
        if not queued:
            return None
        return Job(job_id, redis=self, _queue_name=queue, _deserializer=self.job_deserializer)


def create_redis(
    settings: Settings, url: str | None = None, default_queue_name: str = default_queue_name
) -> FuzeRedis:
    target = redis_target(settings, url)
    if not target.sentinel:
        pool = ConnectionPool.from_url(target.url, **_CONNECTION)  # type: ignore[arg-type]
        return FuzeRedis(connection_pool=pool, default_queue_name=default_queue_name)
    sentinel = Sentinel(
        list(target.sentinels),
        # The sentinels answer at once or are skipped for the next one.
        sentinel_kwargs={"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    )
    client = sentinel.master_for(
        target.master,
        redis_class=FuzeRedis,
        db=target.db,
        username=target.username,
        password=target.password,
        **_CONNECTION,
        **failover_retry(),
    )
    client.default_queue_name = default_queue_name
    return client  # type: ignore[no-any-return]


def arq_redis_settings(settings: Settings) -> RedisSettings:
    """arq's own settings for this Redis. With Sentinel, arq's create_pool passes none of the
    timeouts or retries on, so the workers are handed a pool from create_redis instead
    (workers/main.py); these settings stay right for arq's other tools."""
    target = redis_target(settings, settings.redis_url or "redis://127.0.0.1:6379/0")
    if target.sentinel:
        redis_settings = RedisSettings(
            host=list(target.sentinels),
            sentinel=True,
            sentinel_master=target.master,
            database=target.db,
            username=target.username,
            password=target.password,
        )
    else:
        redis_settings = RedisSettings.from_dsn(target.url)  # type: ignore[arg-type]
    # Keep retrying while Redis restarts instead of exiting.
    redis_settings.conn_retries = 60
    redis_settings.conn_retry_delay = 1
    return redis_settings
