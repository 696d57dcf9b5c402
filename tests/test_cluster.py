"""The cluster tier: Fuze scaled out on loopback as an operator runs it (tests/cluster.py):
the test PostgreSQL as primary with a streaming standby, Valkey with a replica and three
sentinels, two `fuze api` processes behind Debian's nginx with deploy/nginx.conf, and two arq
workers. Every check goes through nginx, as clients do; what each server did is read from
the API's /metrics. The tests run in order and the last ones kill servers.

Waits are on states and events with generous limits (CI runs on a busy 2-core machine)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.cluster import Cluster
from tests.conftest import (
    PIPELINE_ENV,
    Account,
    Stack,
    owner_engine,
    register_and_login,
    wait_for,
)
from tests.test_events import Stream
from tests.test_read_replicas import caught_up, paused
from tests.test_sentinel import failed_over, kill_primary

PAGE = (
    "<html><head><title>{title}</title></head><body><article><p>{body}</p></article></body></html>"
)


@pytest.fixture(scope="module")
def cluster(
    stack: Stack, gemini_fake: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    if stack.postgres is None:
        pytest.skip("needs the embedded test PostgreSQL (FUZE_TEST_DATABASE_URL is set)")
    env = {
        **PIPELINE_ENV,
        "FUZE_SECRET_KEY": "test-secret-" + "x" * 40,  # the suite's: the database knows it
        "FUZE_GEMINI_BASE_URL": gemini_fake.base_url,
        # No sweeper: a bookmark that ends ready was carried by its own jobs, none lost.
        "FUZE_SWEEP_INTERVAL_SECONDS": "3600",
        "FUZE_SWEEP_STALE_SECONDS": "3600",
        "FUZE_PIPELINE_JOB_TIMEOUT_SECONDS": "60",
        # A paused standby stays in use for users who did not write (read-after-write is
        # what keeps the author on the primary), and a dead one is tried again soon.
        "FUZE_READ_REPLICA_MAX_LAG_SECONDS": "3600",
        "FUZE_READ_REPLICA_RETRY_SECONDS": "1",
        "FUZE_EVENTS_RECHECK_SECONDS": "2",
    }
    folder = tmp_path_factory.mktemp("cluster")
    database = stack.database_url.rsplit("/", 1)[1]
    running = Cluster(stack.postgres, database, folder, env=env).start(timeout=600)
    yield running
    running.stop()

    async def forget() -> None:
        engine = owner_engine(stack)
        async with engine.begin() as conn:
            await conn.exec_driver_sql("DELETE FROM users WHERE username LIKE 'cluster%'")
        await engine.dispose()

    asyncio.run(forget())


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=cluster.url, timeout=120) as c:
        yield c


def name() -> str:
    return f"cluster{uuid.uuid4().hex[:10]}"


async def save(client: httpx.AsyncClient, user: Account, web: Any, path: str) -> str:
    web.route(path, PAGE.format(title=f"Page {path}", body=f"cluster page {path} " * 40))
    r = await client.post(
        "/api/bookmarks",
        headers={**user.headers, "Idempotency-Key": str(uuid.uuid4())},
        json={"url": web.url(path)},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def ready(client: httpx.AsyncClient, user: Account, bookmark_id: str) -> bool:
    r = await client.get(f"/api/bookmarks/{bookmark_id}", headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] != "failed", r.json()
    return bool(r.json()["status"] == "ready")


async def replica_reads(cluster: Cluster) -> float:
    return await asyncio.to_thread(cluster.metric, "fuze_db_reads_total", target="replica")


async def test_a_save_on_one_replica_reaches_a_stream_open_on_the_other(
    cluster: Cluster, client: httpx.AsyncClient, web: Any
) -> None:
    user = await register_and_login(client, name())
    async with (
        httpx.AsyncClient(base_url=cluster.api_url(0), timeout=120) as first,
        httpx.AsyncClient(base_url=cluster.api_url(1), timeout=120) as second,
    ):
        stream = Stream(first, "/api/events", user.headers)
        await stream.opened()
        bookmark_id = await save(second, user, web, f"/cluster/events/{uuid.uuid4().hex[:6]}")

        def saw_ready() -> bool:
            return ("bookmark.status", {"id": bookmark_id, "status": "ready"}) in [
                (event, {k: data.get(k) for k in ("id", "status")}) for event, data in stream.events
            ]

        await wait_for(lambda: asyncio.sleep(0, saw_ready()), within=300, interval=0.2)
        stream.task.cancel()


async def test_the_author_reads_every_save_at_once_with_the_standby_paused(
    cluster: Cluster, client: httpx.AsyncClient, stack: Stack, web: Any
) -> None:
    author = await register_and_login(client, name())
    reader = await register_and_login(client, name())
    standby = cluster.standby_url()
    await caught_up(stack, standby)

    async def replica_serves(user: Account) -> bool:
        before = await replica_reads(cluster)
        r = await client.get("/api/bookmarks", headers=user.headers)
        assert r.status_code == 200, r.text
        return await replica_reads(cluster) > before

    await wait_for(lambda: replica_serves(reader), within=120, interval=0.2)
    async with paused(standby):
        run = uuid.uuid4().hex[:6]
        for i in range(5):
            bookmark_id = await save(client, author, web, f"/cluster/raw/{run}/{i}")
            # At once, on whichever replica of the API nginx picks: the standby has not
            # replayed the save, so the author's reads are the primary's.
            r = await client.get(f"/api/bookmarks/{bookmark_id}", headers=author.headers)
            assert r.status_code == 200, r.text
            listed = await client.get("/api/bookmarks", headers=author.headers)
            assert bookmark_id in [b["id"] for b in listed.json()["items"]]
            assert listed.json()["items"][0]["id"] == bookmark_id
        # The standby is in use all the while, for someone who wrote nothing since.
        assert await replica_serves(reader)
    # Replayed: the author's reads go to the standby again (seen in /metrics).
    await caught_up(stack, standby)
    await wait_for(lambda: replica_serves(author), within=120, interval=0.2)
    listed = await client.get("/api/bookmarks", headers=author.headers)
    assert len(listed.json()["items"]) == 5


async def test_the_valkey_primary_killed_during_saves_loses_none(
    cluster: Cluster, client: httpx.AsyncClient, web: Any
) -> None:
    assert cluster.valkey is not None
    user = await register_and_login(client, name())
    run = uuid.uuid4().hex[:6]
    # Both workers are up (their model loaded) before the primary dies.
    first = [await save(client, user, web, f"/cluster/warm/{run}/{i}") for i in range(4)]
    for bookmark_id in first:
        await wait_for(lambda b=bookmark_id: ready(client, user, b), within=600, interval=0.5)  # type: ignore[misc]
    await asyncio.to_thread(cluster.valkey.wait_settled, 60)

    saves: list[str] = []
    killed = asyncio.Event()

    async def one_client(offset: int) -> None:
        i = offset
        while not killed.is_set() or len(saves) < 40:
            saves.append(await save(client, user, web, f"/cluster/failover/{run}/{i}"))
            i += 4

    async def killer() -> float:
        await wait_for(lambda: asyncio.sleep(0, len(saves) >= 8), within=300)
        old = await asyncio.to_thread(kill_primary, cluster.valkey)  # type: ignore[arg-type]
        killed.set()
        started = time.monotonic()
        await failed_over(cluster.valkey, old)  # type: ignore[arg-type]
        return time.monotonic() - started

    kill_at = asyncio.create_task(killer())
    await asyncio.gather(*(one_client(k) for k in range(4)))
    promoted = await kill_at
    print(f"\nsentinels promoted the replica {promoted:.2f} s after the kill; {len(saves)} saves")
    for bookmark_id in saves:
        await wait_for(lambda b=bookmark_id: ready(client, user, b), within=600, interval=0.5)  # type: ignore[misc]
    listed = await client.get("/api/bookmarks", headers=user.headers, params={"limit": 100})
    assert len(listed.json()["items"]) == len(saves) + len(first)


async def test_the_standby_killed_fails_no_read(
    cluster: Cluster, client: httpx.AsyncClient, stack: Stack
) -> None:
    reader = await register_and_login(client, name())
    standby = cluster.standby_servers[0]
    await caught_up(stack, cluster.standby_url())

    async def replica_serves() -> bool:
        before = await replica_reads(cluster)
        r = await client.get("/api/bookmarks", headers=reader.headers)
        assert r.status_code == 200, r.text
        return await replica_reads(cluster) > before

    await wait_for(replica_serves, within=120, interval=0.2)
    assert standby.child is not None and standby.child.proc is not None
    os.kill(standby.child.proc.pid, signal.SIGKILL)
    standby.child.proc.wait(30)
    answers = []
    for _ in range(20):
        for path, params in (
            ("/api/users/me", {}),
            ("/api/bookmarks", {}),
            ("/api/search", {"q": "cluster page", "mode": "keyword"}),
        ):
            r = await client.get(path, headers=reader.headers, params=params)
            answers.append((path, r.status_code))
    assert [a for a in answers if a[1] != 200] == []


async def test_an_api_replica_killed_under_load_fails_no_request(
    cluster: Cluster, client: httpx.AsyncClient, web: Any
) -> None:
    user = await register_and_login(client, name())
    run = uuid.uuid4().hex[:6]
    answers: list[tuple[str, int]] = []
    killed = asyncio.Event()
    saved: list[str] = []

    async def reads() -> None:
        while not killed.is_set() or len(answers) < 200:
            for path, params in (
                ("/api/bookmarks", {}),
                ("/api/search", {"q": "cluster page", "mode": "keyword"}),
            ):
                r = await client.get(path, headers=user.headers, params=params)
                answers.append((f"GET {path}", r.status_code))

    async def saves(offset: int) -> None:
        i = offset
        while not killed.is_set() or len(saved) < 30:
            path = f"/cluster/load/{run}/{i}"
            web.route(path, PAGE.format(title=f"Load {i}", body=f"cluster load page {i} " * 40))
            r = await client.post(
                "/api/bookmarks",
                headers={**user.headers, "Idempotency-Key": str(uuid.uuid4())},
                json={"url": web.url(path)},
            )
            answers.append(("POST /api/bookmarks", r.status_code))
            # 201; or, when the killed replica committed the save but died before keeping
            # its answer for the key, 200 with the same bookmark (app/idempotency.py).
            if r.status_code in (200, 201):
                saved.append(r.json()["id"])
            i += 2

    async def killer() -> None:
        await wait_for(lambda: asyncio.sleep(0, len(answers) >= 40), within=300)
        await asyncio.to_thread(cluster.api_processes[0].kill)
        killed.set()

    await asyncio.gather(reads(), reads(), saves(0), saves(1), killer())
    assert not cluster.api_processes[0].alive
    assert [a for a in answers if a[1] not in (200, 201)] == [], "no client error"
    # Every save kept once: one bookmark per save, none twice, none missing.
    listed = await client.get("/api/bookmarks", headers=user.headers, params={"limit": 200})
    assert sorted(b["id"] for b in listed.json()["items"]) == sorted(saved)
