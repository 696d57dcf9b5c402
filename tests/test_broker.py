"""app.broker.FuzeRedis.enqueue_job: arq's enqueue as one script. arq's own worker must read
what it queues, a job id must never be queued twice (queued, or already run), and a server
that lost its script cache (a restart, a failover) must still take jobs."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from arq.constants import job_key_prefix
from arq.jobs import JobStatus

from app.broker import create_redis
from app.config import Settings
from tests.conftest import Stack
from workers.main import PromptWorker


async def note(ctx: dict[str, Any], key: str, value: str) -> str:
    await ctx["redis"].rpush(key, value)
    return value


async def test_a_job_runs_once_however_often_its_id_is_queued(stack: Stack) -> None:
    settings = Settings(redis_url=stack.redis_url)
    queue = f"test:broker:{uuid.uuid4().hex}"
    done = f"{queue}:done"
    redis = create_redis(settings, default_queue_name=queue)
    worker = PromptWorker(
        functions=[note],
        queue_name=queue,
        redis_pool=create_redis(settings, default_queue_name=queue),
        handle_signals=False,
        poll_delay=0.05,
    )
    task = None
    try:
        job = await redis.enqueue_job("note", done, "first", _job_id=f"{queue}:a")
        assert job is not None and await job.status() == JobStatus.queued
        assert (await job.info()).args == (done, "first")  # type: ignore[union-attr]
        # Queued already: not again, and the queue holds it once.
        assert await redis.enqueue_job("note", done, "again", _job_id=f"{queue}:a") is None
        assert await redis.zcard(queue) == 1
        task = asyncio.create_task(worker.async_run())
        assert await job.result(timeout=60) == "first"
        # Run already (its result is kept): still not again.
        assert await redis.enqueue_job("note", done, "later", _job_id=f"{queue}:a") is None
        other = await redis.enqueue_job("note", done, "second")  # no id: always queued
        assert other is not None and await other.result(timeout=60) == "second"
        assert await redis.lrange(done, 0, -1) == [b"first", b"second"]
    finally:
        await worker.close()
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await redis.delete(done, queue)
        await redis.aclose()


async def test_a_server_that_forgot_the_script_still_takes_jobs(stack: Stack) -> None:
    settings = Settings(redis_url=stack.redis_url)
    queue = f"test:broker:{uuid.uuid4().hex}"
    redis = create_redis(settings, default_queue_name=queue)
    job = None
    try:
        await redis.script_flush()
        job = await redis.enqueue_job("note", "k", "v", _defer_by=120)
        assert job is not None
        info = await job.info()
        assert info is not None and info.function == "note" and info.args == ("k", "v")
        # Deferred: its score in the queue is two minutes after it was queued.
        score = await redis.zscore(queue, job.job_id)
        enqueued = info.enqueue_time.timestamp() * 1000
        assert abs(score - (enqueued + 120_000)) < 2
        assert await redis.zcard(queue) == 1
    finally:
        await redis.delete(queue, *([job_key_prefix + job.job_id] if job else []))
        await redis.aclose()
