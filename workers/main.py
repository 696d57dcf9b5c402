"""arq WorkerSettings: one worker process runs every domain's jobs against the shared Redis.

Shared clients (the database engine, Redis) are built once in on_startup and live in ctx; jobs
take ids, never objects, and open their own sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from typing import Any

from arq.connections import RedisSettings

from app.config import get_settings
from app.db import create_engine, create_sessionmaker
from app.health.service import WORKERS_KEY
from app.logs import setup_logging

log = logging.getLogger("fuze.worker")


async def ping(ctx: dict[str, Any]) -> str:
    """A no-op job: proves end to end that a worker takes jobs from the queue."""
    return f"pong from {ctx['worker_id']}"


async def _heartbeat(ctx: dict[str, Any]) -> None:
    settings = ctx["settings"]
    redis = ctx["redis"]
    while True:
        try:
            now = time.time()
            async with redis.pipeline(transaction=False) as pipe:
                pipe.zadd(WORKERS_KEY, {ctx["worker_id"]: now})
                pipe.zremrangebyscore(WORKERS_KEY, "-inf", now - 24 * 3600)
                await pipe.execute()
        except Exception as exc:  # Redis down: keep beating, it will come back
            log.warning("heartbeat failed: %s", exc)
        await asyncio.sleep(settings.worker_heartbeat_seconds)


async def startup(ctx: dict[str, Any]) -> None:
    settings = get_settings()
    setup_logging(settings.log_level, settings.log_json)
    ctx["settings"] = settings
    ctx["worker_id"] = f"{socket.gethostname()}:{os.getpid()}"
    ctx["engine"] = create_engine(settings)
    ctx["sessionmaker"] = create_sessionmaker(ctx["engine"])
    ctx["heartbeat"] = asyncio.create_task(_heartbeat(ctx))
    log.info("worker started", extra={"worker_id": ctx["worker_id"]})


async def shutdown(ctx: dict[str, Any]) -> None:
    task = ctx.get("heartbeat")
    if task:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    with contextlib.suppress(Exception):
        await ctx["redis"].zrem(WORKERS_KEY, ctx["worker_id"])
    engine = ctx.get("engine")
    if engine is not None:
        await engine.dispose()
    log.info("worker stopped", extra={"worker_id": ctx.get("worker_id")})


def _redis_settings() -> RedisSettings:
    url = get_settings().redis_url or "redis://127.0.0.1:6379/0"
    settings = RedisSettings.from_dsn(url)
    # Keep retrying while Redis restarts instead of exiting.
    settings.conn_retries = 60
    settings.conn_retry_delay = 1
    return settings


class WorkerSettings:
    functions = [ping]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = _redis_settings()
    max_jobs = 16
    job_timeout = 300
    keep_result = 3600
    health_check_interval = 30
