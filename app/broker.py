"""The one Redis connection pool of a process: arq's client, the cache, rate limits, pub/sub."""

from __future__ import annotations

from arq.connections import ArqRedis
from redis.asyncio import ConnectionPool

from app.config import Settings


def create_redis(settings: Settings, url: str | None = None) -> ArqRedis:
    target = url or settings.redis_url
    if not target:
        raise RuntimeError("FUZE_REDIS_URL is not set (run `fuze up` to start embedded servers)")
    # Short timeouts: when Redis is down, requests must fall back quickly instead of hanging.
    pool = ConnectionPool.from_url(
        target,
        socket_connect_timeout=1.0,
        socket_timeout=2.0,
        health_check_interval=30,
        max_connections=100,
    )
    return ArqRedis(connection_pool=pool)
