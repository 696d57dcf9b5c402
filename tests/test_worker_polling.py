"""The worker starts the next job of a chain at once instead of at its next idle look at the
queue (workers.main.PromptWorker): a page's stages (fetch, extract, embed) each queue the next,
and with arq's fixed pace each stage waited up to that long."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from app.broker import create_redis
from app.config import Settings
from tests.conftest import Stack, wait_for
from workers.main import PromptWorker


async def link(ctx: dict[str, Any], chain: str, left: int) -> None:
    """One stage: note itself, then queue the next, as the pipeline's stages do."""
    await ctx["redis"].rpush(chain, left)
    if left:
        await ctx["redis"].enqueue_job("link", chain, left - 1, _queue_name=ctx["queue"])


async def test_a_chain_of_jobs_runs_back_to_back_not_one_idle_wait_apart(stack: Stack) -> None:
    settings = Settings(redis_url=stack.redis_url)
    queue = f"test:prompt:{uuid.uuid4().hex}"
    chain = f"{queue}:done"
    redis = create_redis(settings, default_queue_name=queue)
    # Idle, the worker looks every 30 s: ten links one idle wait apart would take 5 minutes.
    worker = PromptWorker(
        functions=[link],
        queue_name=queue,
        redis_pool=create_redis(settings, default_queue_name=queue),
        handle_signals=False,
        max_jobs=4,
        poll_delay=0.05,
        idle_poll_delay=30,
        ctx={"queue": queue},
    )
    await redis.enqueue_job("link", chain, 9, _queue_name=queue)
    task = asyncio.create_task(worker.async_run())
    try:
        await wait_for(lambda: _length(redis, chain, 10), within=60)
        assert [int(v) for v in await redis.lrange(chain, 0, -1)] == list(range(9, -1, -1))
    finally:
        await worker.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await redis.delete(chain)
        await redis.aclose()


async def _length(redis: Any, key: str, n: int) -> bool:
    return await redis.llen(key) >= n
