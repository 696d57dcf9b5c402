"""Valkey with Sentinel: a real primary, replica and three sentinels on loopback (the set that
`fuze services --redis-ha` starts). The app's clients and an arq worker follow a failover;
saves made while the primary is killed all answer and all end `ready` (no job lost)."""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from arq import Worker
from redis.asyncio.sentinel import SentinelConnectionPool
from sqlalchemy import text

from app.broker import FuzeRedis, arq_redis_settings, create_redis, redis_target
from app.config import Settings
from app.embedded import EmbeddedValkeyHA
from app.main import create_app
from app.ratelimit import RateLimiter
from tests.conftest import (
    PIPELINE_ENV,
    Stack,
    WorkerProcess,
    as_operator,
    make_settings,
    register_and_login,
    service_env,
    wait_for,
)


@pytest.fixture
def valkey_ha(tmp_path: Path) -> Iterator[EmbeddedValkeyHA]:
    # Quick to fail over (1 s without an answer); the tests wait on states, not on that.
    ha = EmbeddedValkeyHA(tmp_path, down_after_ms=1000, failover_timeout_ms=5000)
    ha.start(timeout=120)
    yield ha
    ha.stop()


def kill_primary(ha: EmbeddedValkeyHA) -> tuple[str, int]:
    """SIGKILL the server the sentinels call the primary (no shutdown, no last save)."""
    address = ha.master_address()
    assert address is not None
    node = next(n for n in (ha.primary, ha.replica) if n.port == address[1])
    assert node.child is not None and node.child.proc is not None
    os.kill(node.child.proc.pid, signal.SIGKILL)
    node.child.proc.wait(10)
    return address


async def failed_over(ha: EmbeddedValkeyHA, old: tuple[str, int]) -> None:
    async def moved() -> bool:
        address = await asyncio.to_thread(ha.master_address)
        return address is not None and address != old

    await wait_for(moved, within=120, interval=0.1)


def test_sentinel_urls_and_settings_parse_to_a_sentinel_client() -> None:
    plain = Settings(redis_url="redis://127.0.0.1:6379/3")
    assert not redis_target(plain).sentinel

    url = "redis+sentinel://:s%40cret@10.0.0.1:26380,[::1]:26381,sentinel-c/queue/2"
    target = redis_target(Settings(redis_url=url))
    assert target.sentinels == (("10.0.0.1", 26380), ("::1", 26381), ("sentinel-c", 26379))
    assert (target.master, target.db, target.password) == ("queue", 2, "s@cret")

    by_settings = Settings(
        redis_url="redis://:pw@ignored:6379/4",
        redis_sentinels="a:1,b:2",  # type: ignore[arg-type]  (as the environment gives it)
        redis_sentinel_master="main",
    )
    target = redis_target(by_settings)
    assert target.sentinels == (("a", 1), ("b", 2))
    assert (target.master, target.db, target.password) == ("main", 4, "pw")

    client = create_redis(Settings(redis_url=url))
    assert isinstance(client, FuzeRedis)
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool) and pool.service_name == "queue"
    assert pool.connection_kwargs["db"] == 2 and pool.connection_kwargs["retry"] is not None

    arq = arq_redis_settings(Settings(redis_url=url))
    assert arq.sentinel and arq.sentinel_master == "queue" and arq.database == 2
    assert arq.host == [("10.0.0.1", 26380), ("::1", 26381), ("sentinel-c", 26379)]

    with pytest.raises(ValueError, match="primary's name"):
        redis_target(Settings(redis_url="redis+sentinel://a:1,b:2"))


async def echo(ctx: dict[str, Any], value: str) -> str:
    await ctx["redis"].set(f"done:{value}", value)
    return value


async def test_the_app_clients_and_an_arq_worker_follow_a_failover(
    valkey_ha: EmbeddedValkeyHA,
) -> None:
    settings = Settings(redis_url=valkey_ha.url(1))
    redis = create_redis(settings)
    limiter = RateLimiter(redis)
    worker = Worker(functions=[echo], redis_pool=create_redis(settings), handle_signals=False)
    worker_task = asyncio.create_task(worker.async_run())
    pubsub = redis.pubsub()
    try:
        await redis.set("cache:key", "before")
        assert (await limiter.incr("user:x", 60)).count == 1
        await pubsub.subscribe("fuze:events:x")
        assert (await pubsub.get_message(timeout=5))["type"] == "subscribe"  # type: ignore[index]
        await redis.enqueue_job("echo", "one", _job_id="echo:one")
        await wait_for(lambda: redis.exists("done:one"), within=60)
        await asyncio.to_thread(valkey_ha.wait_settled, 60)  # "before" is on the replica too

        received: list[bytes] = []

        async def listen() -> None:  # as an event stream does (app/events/router.py)
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is not None:
                    received.append(message["data"])

        listener = asyncio.create_task(listen())
        old = await asyncio.to_thread(kill_primary, valkey_ha)
        # In flight across the failover: the command waits for the promoted replica.
        assert await redis.get("cache:key") == b"before"
        await failed_over(valkey_ha, old)

        assert (await limiter.incr("user:x", 60)).count == 2
        assert not limiter.using_fallback
        await redis.enqueue_job("echo", "two", _job_id="echo:two")
        await wait_for(lambda: redis.exists("done:two"), within=60)

        # The listener subscribes again on the new primary by itself (a message published
        # before that has no subscriber: publish counts them).
        await wait_for(lambda: redis.publish("fuze:events:x", "after"), within=60)
        await wait_for(lambda: asyncio.sleep(0, b"after" in received), within=60)
        assert not listener.done(), listener
        listener.cancel()
    finally:
        await pubsub.aclose()
        await worker.close()
        worker_task.cancel()
        await redis.aclose()


PAGE = (
    "<html><head><title>Page {i}</title></head><body><article><p>{body}</p></article></body></html>"
)


@pytest.fixture
async def ha_app(stack: Stack, valkey_ha: EmbeddedValkeyHA) -> AsyncIterator[Any]:
    settings = make_settings(
        stack, redis_url=valkey_ha.url(0), db_pool_size=10, allow_private_networks=True
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application
        async with as_operator(application.state.engine) as conn:
            await conn.execute(text("DELETE FROM users WHERE username LIKE 'sentinel%'"))


@pytest.fixture
def ha_worker(stack: Stack, valkey_ha: EmbeddedValkeyHA) -> Iterator[WorkerProcess]:
    env = service_env(
        stack,
        **{
            **PIPELINE_ENV,
            "FUZE_REDIS_URL": valkey_ha.url(0),
            # No sweeper: a bookmark that ends ready was carried by its own jobs, none lost.
            "FUZE_SWEEP_INTERVAL_SECONDS": "3600",
            "FUZE_SWEEP_STALE_SECONDS": "3600",
            "FUZE_PIPELINE_JOB_TIMEOUT_SECONDS": "60",
        },
    )
    worker = WorkerProcess(env, stack.data_dir / "sentinel-worker.log")
    worker.start()
    yield worker
    worker.stop()


async def test_saves_while_the_primary_is_killed_all_answer_and_end_ready(
    ha_app: Any, ha_worker: WorkerProcess, valkey_ha: EmbeddedValkeyHA, web: Any
) -> None:
    transport = httpx.ASGITransport(app=ha_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", timeout=120
    ) as client:
        user = await register_and_login(client, f"sentinel{uuid.uuid4().hex[:8]}")
        run = uuid.uuid4().hex[:6]

        async def save(i: int) -> tuple[str, float, float]:
            path = f"/sentinel/{run}/{i}"
            web.route(path, PAGE.format(i=i, body=f"sentinel failover page {i} " * 40))
            started = time.monotonic()
            r = await client.post(
                "/api/bookmarks", headers=user.headers, json={"url": web.url(path)}
            )
            assert r.status_code == 201, r.text
            return r.json()["id"], started, time.monotonic() - started

        async def ready(bookmark_id: str) -> bool:
            r = await client.get(f"/api/bookmarks/{bookmark_id}", headers=user.headers)
            assert r.status_code == 200, r.text
            assert r.json()["status"] != "failed", r.json()
            return r.json()["status"] == "ready"

        # The worker is up (its model loaded) before the primary dies.
        first, _, _ = await save(0)
        await wait_for(lambda: ready(first), within=300, interval=0.5)
        await asyncio.to_thread(valkey_ha.wait_settled, 60)

        saves: list[tuple[str, float, float]] = []
        killed = asyncio.Event()

        async def client_loop(offset: int) -> None:
            i = offset
            while not killed.is_set() or len(saves) < 60:
                saves.append(await save(i))
                i += 4

        async def killer() -> None:
            await wait_for(lambda: asyncio.sleep(0, len(saves) >= 12), within=120)
            old = await asyncio.to_thread(kill_primary, valkey_ha)
            killed.set()
            started = time.monotonic()
            await failed_over(valkey_ha, old)
            print(
                f"\nsentinels promoted the replica {time.monotonic() - started:.2f} s after the kill"
            )

        kill_at = asyncio.create_task(killer())
        await asyncio.gather(*(client_loop(1 + k) for k in range(4)))
        await kill_at

        latencies = [s[2] for s in saves]
        print(
            f"{len(saves)} saves during the failover: p50 {statistics.median(latencies) * 1000:.0f}"
            f" ms, longest {max(latencies):.2f} s (how long the failover held saves up)"
        )
        for bookmark_id, _, _ in saves:
            await wait_for(lambda b=bookmark_id: ready(b), within=300, interval=0.5)  # type: ignore[misc]
