"""app.broker.FuzeRedis.enqueue_job: arq's enqueue as one script. arq's own worker must read
what it queues, a job id must never be queued twice (queued, or already run), and a server
that lost its script cache (a restart, a failover) must still take jobs. And the client's
pool (app.broker.PooledReplyParser) must never hand out a connection with something left
on it: a server's close, or a reply nobody read."""

from __future__ import annotations

import asyncio
import time
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


async def _until(state: Any, what: str) -> None:
    deadline = time.monotonic() + 30
    while not state():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        await asyncio.sleep(0.01)


async def test_a_pooled_connection_the_server_closed_is_replaced_before_a_command(
    stack: Stack,
) -> None:
    settings = Settings(redis_url=stack.redis_url)
    key = f"test:broker:{uuid.uuid4().hex}"
    redis, admin = create_redis(settings), create_redis(settings)
    try:
        await redis.set(key, b"kept")
        pool = redis.connection_pool
        (pooled,) = pool._available_connections  # the one connection, idle in the pool
        killed = await admin.client_kill_filter(_id=await redis.client_id())
        assert killed == 1
        # The client has received the close (a restart, a timeout, a failover look the same).
        await _until(lambda: pooled._reader is None or pooled._reader.at_eof(), "the close")
        assert await redis.get(key) == b"kept"  # on a new connection, not an error
    finally:
        await admin.delete(key)
        await redis.aclose()
        await admin.aclose()


async def test_a_reply_nobody_read_is_not_taken_for_the_next_commands(stack: Stack) -> None:
    settings = Settings(redis_url=stack.redis_url)
    key = f"test:broker:{uuid.uuid4().hex}"
    redis = create_redis(settings)
    try:
        await redis.set(key, b"value")
        pool = redis.connection_pool
        connection = await pool.get_connection()
        await connection.send_command("ECHO", "stale")
        await pool.release(connection)  # its reply unread
        await _until(lambda: bool(connection._reader._buffer), "the unread reply")
        assert await redis.get(key) == b"value"
        assert await redis.echo("fresh") == b"fresh"
    finally:
        await redis.delete(key)
        await redis.aclose()
