"""Fuze scaled out on one machine (tests/cluster.py: embedded PostgreSQL with streaming
standbys, Valkey, `fuze api` processes behind Debian's nginx, arq workers), measured through
nginx as clients reach it:

    .venv/bin/python bench/scale.py [--pages 2000] [--seconds 15] [--concurrency 8]

1. list (GET /api/bookmarks, 20 a page, at cursors met walking the library) and search (hybrid, a new
   query each time) with 1 and 2 API replicas and 0 and 1 read replica: requests per second,
   p50 and p95, and the share of the read pool's statements the standby answered
   (fuze_db_reads_total from /metrics);
2. the standby's replication lag (pg_stat_replication.replay_lag, sampled every 50 ms on the
   primary) under a burst of saves that workers fetch, extract and embed;
3. Valkey with a replica and three sentinels: its primary killed during saves from four
   clients; how long the sentinels took to promote the replica, the longest save, failed
   saves and saves that never ended `ready`.

Every server and process runs on this machine's cores, the load generator too: on 2 cores a
second API replica or a standby adds no capacity; the figures show what they cost and that
nothing fails, not how a cluster of machines scales.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.search_latency import fill, vocabulary  # noqa: E402
from tests.cluster import Cluster  # noqa: E402

PASSWORD = "scale bench password"
ENV = {
    "FUZE_ENV": "test",
    "FUZE_ALLOW_PRIVATE_NETWORKS": "true",  # the page server is on 127.0.0.1
    "FUZE_RATE_LIMIT_ENABLED": "false",
    "FUZE_LOG_LEVEL": "warning",
    # No sweeper: a save that ends ready was carried by its own jobs.
    "FUZE_SWEEP_INTERVAL_SECONDS": "3600",
    "FUZE_SWEEP_STALE_SECONDS": "3600",
}


async def until(check: Any, interval: float = 0.05, within: float = 600) -> None:
    """Poll `check` (an async callable) until it is true."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true within {within:.0f} s")
        await asyncio.sleep(interval)


def pct(samples: list[float], q: int) -> float:
    if len(samples) < 2:
        return samples[0] if samples else float("nan")
    return statistics.quantiles(samples, n=100)[q - 1]


async def sign_in(base: str, name: str) -> tuple[str, str]:
    """(user id, access token), registering the user when new."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        r = await c.post(
            "/api/auth/register",
            json={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
        )
        if r.status_code not in (201, 409):
            raise RuntimeError(f"register: {r.status_code} {r.text}")
        r = await c.post("/api/auth/login", json={"login": name, "password": PASSWORD})
        r.raise_for_status()
        token = r.json()["access_token"]
        me = await c.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
        return me.json()["id"], token


async def caught_up(cluster: Cluster) -> None:
    import asyncpg

    if not cluster.standby_servers:
        return
    primary = await asyncpg.connect(cluster.primary.url(cluster.database))
    standby = await asyncpg.connect(cluster.standby_url())
    try:
        target = await primary.fetchval("SELECT pg_current_wal_lsn()")
        await until(lambda: standby.fetchval("SELECT pg_last_wal_replay_lsn() >= $1", target))
    finally:
        await primary.close()
        await standby.close()


async def load(
    base: str, token: str, paths: list[str], seconds: float, concurrency: int
) -> tuple[int, list[float], int]:
    """GET `paths` round-robin from `concurrency` clients for `seconds`: (answered, latencies
    in ms, errors)."""
    headers = {"Authorization": f"Bearer {token}"}
    samples: list[float] = []
    errors = 0
    end = time.monotonic() + seconds
    async with httpx.AsyncClient(
        base_url=base, timeout=60, limits=httpx.Limits(max_connections=concurrency)
    ) as c:

        async def one_client(k: int) -> None:
            nonlocal errors
            i = k
            while time.monotonic() < end:
                t = time.perf_counter()
                r = await c.get(paths[i % len(paths)], headers=headers)
                samples.append((time.perf_counter() - t) * 1000)
                errors += r.status_code != 200
                i += concurrency

        await asyncio.gather(*(one_client(k) for k in range(concurrency)))
    return len(samples), samples, errors


async def list_pages(base: str, token: str) -> list[str]:
    """Paths of list pages (20 items) at cursors met walking the library in two orders."""
    from urllib.parse import quote

    paths = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        for sort in ("-saved_at", "title"):
            path = f"/api/bookmarks?limit=20&sort={sort}"
            for _ in range(40):
                paths.append(path)
                r = await c.get(path, headers={"Authorization": f"Bearer {token}"})
                r.raise_for_status()
                cursor = r.json()["next_cursor"]
                if not cursor:
                    break
                path = f"/api/bookmarks?limit=20&sort={sort}&cursor={quote(cursor)}"
    return paths


async def throughput(args: argparse.Namespace, folder: Path, primary: Any, redis_url: str) -> None:
    rng = random.Random(7)
    vocab = vocabulary()
    print(
        f"\n1. list and search through nginx, {args.pages} pages, {args.concurrency} clients, "
        f"{args.seconds:.0f} s each",
        flush=True,
    )
    print(
        "| API replicas | read replicas | route | req/s | p50 ms | p95 ms | errors | reads on the standby |"
    )
    print("|---|---|---|---|---|---|---|---|")
    filled = False
    for apis, standbys in ((1, 0), (2, 0), (1, 1), (2, 1)):
        cluster = Cluster(
            primary, "fuze", folder / f"c{apis}{standbys}", apis=apis, workers=0,
            standbys=standbys, redis_ha=False, redis_url=redis_url, env=ENV,
        ).start(timeout=600)  # fmt: skip
        try:
            user_id, token = await sign_in(cluster.url, "scale")
            if not filled:
                await fill(primary.url("fuze"), uuid.UUID(user_id), args.pages, vocab, rng)
                filled = True
            await caught_up(cluster)  # the user's writes replayed: its reads may go there
            lists = await list_pages(cluster.url, token)
            rng.shuffle(lists)
            searches = [
                "/api/search?limit=20&q=" + "+".join(rng.sample(vocab, rng.randint(1, 3)))
                for _ in range(5000)
            ]
            for route, paths in (("list", lists), ("search", searches)):
                await load(cluster.url, token, paths[:50], 2, args.concurrency)  # warm
                before = {
                    t: cluster.metric("fuze_db_reads_total", target=t)
                    for t in ("primary", "replica")
                }
                n, samples, errors = await load(
                    cluster.url, token, paths, args.seconds, args.concurrency
                )
                after = {
                    t: cluster.metric("fuze_db_reads_total", target=t)
                    for t in ("primary", "replica")
                }
                grew = {t: after[t] - before[t] for t in after}
                share = grew["replica"] / max(1.0, grew["replica"] + grew["primary"])
                print(
                    f"| {apis} | {standbys} | {route} | {n / args.seconds:.0f} | {pct(samples, 50):.1f}"
                    f" | {pct(samples, 95):.1f} | {errors} | {share:.0%} |",
                    flush=True,
                )
        finally:
            cluster.stop()


async def replication_lag(
    args: argparse.Namespace, folder: Path, primary: Any, redis_url: str
) -> None:
    import asyncpg

    from tests.fakes.web import FakeWeb

    cluster = Cluster(
        primary, "fuze", folder / "lag", apis=1, workers=1, standbys=1, redis_ha=False,
        redis_url=redis_url, env=ENV,
    ).start(timeout=600)  # fmt: skip
    web = FakeWeb().start()
    try:
        _, token = await sign_in(cluster.url, f"lag{uuid.uuid4().hex[:6]}")
        headers = {"Authorization": f"Bearer {token}"}
        lags: list[float] = []
        done = asyncio.Event()

        async def sample() -> None:
            conn = await asyncpg.connect(primary.url("fuze"))
            try:
                while not done.is_set():
                    lag = await conn.fetchval(
                        "SELECT max(extract(epoch FROM replay_lag)) FROM pg_stat_replication"
                    )
                    if lag is not None:
                        lags.append(float(lag) * 1000)
                    await asyncio.sleep(0.05)
            finally:
                await conn.close()

        sampler = asyncio.create_task(sample())
        ids: list[str] = []
        started = time.monotonic()
        async with httpx.AsyncClient(base_url=cluster.url, timeout=120) as c:
            sem = asyncio.Semaphore(args.concurrency)

            async def save(i: int) -> None:
                path = f"/lag/{i}"
                words = " ".join(random.Random(i).choices(vocabulary(), k=300))
                web.route(
                    path,
                    f"<html><head><title>Lag {i}</title></head><body><article><p>{words}</p></article></body></html>",
                )
                async with sem:
                    r = await c.post("/api/bookmarks", headers=headers, json={"url": web.url(path)})
                    r.raise_for_status()
                    ids.append(r.json()["id"])

            await asyncio.gather(*(save(i) for i in range(args.burst)))
            saved = time.monotonic() - started
            while True:
                r = await c.get(
                    "/api/bookmarks", headers=headers, params={"limit": 200, "status": "ready"}
                )
                if len(r.json()["items"]) >= len(ids):
                    break
                await asyncio.sleep(0.2)
        done.set()
        await sampler
        print(
            f"\n2. replication lag: {args.burst} saves in {saved:.1f} s (c{args.concurrency}), all"
            f" ready after {time.monotonic() - started:.1f} s; replay_lag over {len(lags)} samples:"
            f" p50 {pct(lags, 50):.1f} ms, p95 {pct(lags, 95):.1f} ms, max {max(lags, default=0):.1f} ms",
            flush=True,
        )
    finally:
        web.stop()
        cluster.stop()


async def valkey_failover(args: argparse.Namespace, folder: Path, primary: Any) -> None:
    from tests.fakes.web import FakeWeb
    from tests.test_sentinel import kill_primary

    cluster = Cluster(
        primary, "fuze", folder / "ha", apis=1, workers=1, standbys=0, redis_ha=True, env=ENV
    ).start(timeout=600)
    web = FakeWeb().start()
    assert cluster.valkey is not None
    try:
        _, token = await sign_in(cluster.url, f"ha{uuid.uuid4().hex[:6]}")
        headers = {"Authorization": f"Bearer {token}"}
        saves: list[tuple[str | None, float, float]] = []  # id, started, seconds
        killed = asyncio.Event()
        async with httpx.AsyncClient(base_url=cluster.url, timeout=120) as c:

            async def save(i: int) -> None:
                path = f"/ha/{i}"
                web.route(
                    path,
                    f"<html><head><title>HA {i}</title></head><body><article><p>{'failover page ' * 60}{i}</p></article></body></html>",
                )
                t = time.monotonic()
                try:
                    r = await c.post("/api/bookmarks", headers=headers, json={"url": web.url(path)})
                    bid = r.json()["id"] if r.status_code == 201 else None
                except httpx.HTTPError:
                    bid = None
                saves.append((bid, t, time.monotonic() - t))

            async def one_client(k: int) -> None:
                i = k
                while not killed.is_set() or len(saves) < 80:
                    await save(i)
                    i += 4

            async def killer() -> tuple[float, float]:
                await until(lambda: asyncio.sleep(0, len(saves) >= 20), interval=0.01)
                await asyncio.to_thread(cluster.valkey.wait_settled, 60)  # type: ignore[union-attr]
                old = await asyncio.to_thread(kill_primary, cluster.valkey)  # type: ignore[arg-type]
                at = time.monotonic()
                killed.set()
                valkey = cluster.valkey
                assert valkey is not None

                async def moved() -> bool:
                    return await asyncio.to_thread(valkey.master_address) not in (None, old)

                await until(moved)
                return at, time.monotonic() - at

            results = await asyncio.gather(*(one_client(k) for k in range(4)), killer())
            at, promoted = results[-1]
            ids = [s[0] for s in saves if s[0]]
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                r = await c.get(
                    "/api/bookmarks", headers=headers, params={"limit": 200, "status": "ready"}
                )
                if len(r.json()["items"]) >= len(ids):
                    break
                await asyncio.sleep(0.5)
            ready = {b["id"] for b in r.json()["items"]}
        after = [s for s in saves if s[1] + s[2] >= at]
        longest = max((s[2] for s in after), default=0.0)
        print(
            f"\n3. Valkey failover: the replica promoted {promoted:.2f} s after the primary was"
            f" killed; {len(saves)} saves from 4 clients, the longest {longest:.2f} s;"
            f" failed {len(saves) - len(ids)}; never ready {len(set(ids) - ready)}",
            flush=True,
        )
    finally:
        web.stop()
        cluster.stop()


async def run(args: argparse.Namespace) -> None:
    from app.cli import run_migrations
    from app.embedded import EmbeddedPostgres, EmbeddedValkey

    with tempfile.TemporaryDirectory(prefix="fuze-scale-") as tmp:
        folder = Path(tmp)
        primary = EmbeddedPostgres(folder / "pg")
        primary.start(timeout=120)
        valkey = EmbeddedValkey(folder / "vk")
        redis_url = valkey.start()
        try:
            primary.ensure_database("fuze")
            await asyncio.to_thread(run_migrations, primary.url("fuze"))
            if "throughput" in args.parts:
                await throughput(args, folder, primary, redis_url)
            if "lag" in args.parts:
                await replication_lag(args, folder, primary, redis_url)
            if "failover" in args.parts:
                await valkey_failover(args, folder, primary)
        finally:
            valkey.stop()
            primary.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--burst", type=int, default=200, help="saves in the replication-lag burst")
    parser.add_argument(
        "--parts", default="throughput,lag,failover", type=lambda s: s.split(","),
        help="which of throughput, lag, failover to run",
    )  # fmt: skip
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
