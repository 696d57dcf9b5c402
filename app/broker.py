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
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from arq.connections import ArqRedis, RedisSettings
from arq.constants import (
    default_queue_name,
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
)
from arq.jobs import Job
from redis.asyncio import ConnectionPool
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, ReadOnlyError, TimeoutError, WatchError

from app.config import Settings

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379
# Short timeouts: when Redis is down, requests must fall back quickly instead of hanging.
_CONNECTION = {
    "socket_connect_timeout": 1.0,
    "socket_timeout": 2.0,
    "health_check_interval": 30,
    "max_connections": 100,
}
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


class FuzeRedis(ArqRedis):
    """arq's client, with an enqueue that survives a connection cut mid-transaction.

    arq enqueues under WATCH; redis-py reports a connection lost while watching as a
    WatchError, which arq reads as "a job with this id exists" and returns None: at a
    failover the job would be silently dropped. Here a None is believed only when the job is
    there (queued, running or finished); otherwise the enqueue is sent again. Job ids are
    deterministic (`_job_id`), so sending again never queues a job twice."""

    async def enqueue_job(  # type: ignore[override]
        self, function: str, *args: Any, _job_id: str | None = None, **kwargs: Any
    ) -> Job | None:
        for _ in range(3):
            try:
                job = await super().enqueue_job(function, *args, _job_id=_job_id, **kwargs)
            except WatchError:  # cut while watching, before arq's own except
                job = None
            if job is not None or _job_id is None:
                return job
            keys = (prefix + _job_id for prefix in (job_key_prefix, result_key_prefix))
            if await self.exists(*keys, in_progress_key_prefix + _job_id):
                return None
        raise ConnectionError(f"could not enqueue {function} {_job_id}: the primary kept changing")


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
