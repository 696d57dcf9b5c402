"""Bounded mixed soak: several users at concurrency 8 save pages with tags (the extension's
captured `html`, so the worker extracts and embeds each one while the load goes on), patch
`{notes, tags}`, search, ask for recommendations and list, through a real uvicorn API process
and arq worker. Prints the answers per route and status, the server errors (must be 0), p50 /
p95 per route, and the API's and the worker's memory (RSS with children) at start and end.

    .venv/bin/python bench/soak.py --seconds 60 [--requests 5000] [--users 3] [--concurrency 8]

Embedded PostgreSQL and Valkey are started in a temporary folder unless FUZE_DATABASE_URL /
FUZE_REDIS_URL are set. Everything listens on loopback addresses. Exits 1 on any 5xx.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORDS = [
    *("postgres", "vector", "search", "index", "query", "plan", "lock", "order", "tag"),
    *("deadlock", "retry", "worker", "save", "page", "notes", "extract", "embed", "token"),
    *("commit", "rollback", "latency", "queue", "python", "async", "network", "cache"),
    *("replica", "failover", "backup", "restore", "schema", "migration", "trigger"),
    *("statistics", "posting", "lexeme", "recommendation", "project", "task", "feedback"),
    *("browser", "extension", "import", "export", "archive", "health"),
]
TAGS = ["research", "python", "databases", "reading", "work", "ideas", "later", "ops"]
# (route, weight): what each of the clients does next.
MIX = [("save", 40), ("patch", 25), ("search", 15), ("recommend", 8), ("list", 12)]


def _page(rng: random.Random, n: int) -> str:
    paragraphs = "".join(
        "<p>" + " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 90))) + "</p>"
        for _ in range(rng.randint(3, 8))
    )
    title = " ".join(rng.choice(WORDS) for _ in range(4)).title()
    return (
        f"<!doctype html><html lang=en><head><title>{title} {n}</title>"
        f'<meta name="description" content="{title}"></head><body><nav>Home</nav>'
        f"<article><h1>{title}</h1>{paragraphs}</article><footer>(c)</footer></body></html>"
    )


def _rss(pid: int) -> int:
    try:
        proc = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])
    except psutil.Error:
        return 0


async def _register(client: httpx.AsyncClient) -> dict[str, str]:
    name = f"soak{uuid.uuid4().hex[:8]}"
    password = "correct horse battery staple"
    r = await client.post(
        "/api/auth/register",
        json={"username": name, "email": f"{name}@example.com", "password": password},
    )
    r.raise_for_status()
    r = await client.post("/api/auth/login", json={"login": name, "password": password})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def warm_up(base: str) -> None:
    """Until the worker has embedded pages and the API has answered a search and a
    recommendation: both processes then hold their model, and memory measured from here on
    is what the load itself adds."""
    rng = random.Random(0)
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        headers = await _register(client)
        for n in range(3):
            r = await client.post(
                "/api/bookmarks",
                json={"url": f"https://warm.example/{n}", "html": _page(rng, n)},
                headers=headers,
            )
            r.raise_for_status()
        for _ in range(600):
            r = await client.get("/api/bookmarks", params={"status": "ready"}, headers=headers)
            if len(r.json()["items"]) == 3:
                break
            await asyncio.sleep(0.5)
        await client.get("/api/search", params={"q": "postgres"}, headers=headers)
        await client.post("/api/recommendations", json={"text": "postgres"}, headers=headers)


async def soak(base: str, args: argparse.Namespace) -> tuple[Counter, dict, list[str]]:
    statuses: Counter[tuple[str, int]] = Counter()
    latencies: dict[str, list[float]] = defaultdict(list)
    failures: list[str] = []
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        users = [await _register(client) for _ in range(args.users)]
        saved: dict[int, list[str]] = {i: [] for i in range(len(users))}
        deadline = time.monotonic() + args.seconds
        budget = args.requests
        counter = 0

        async def send(rng: random.Random, route: str, i: int) -> httpx.Response:
            headers = users[i]
            if route == "save":
                # A tenth of the saves are of a page already saved (its tags are added).
                n = rng.randrange(counter) if rng.random() < 0.1 else counter
                r = await client.post(
                    "/api/bookmarks",
                    json={
                        "url": f"https://soak.example/{i}/{n}",
                        "tags": rng.sample(TAGS, rng.randint(1, 3)),
                        "html": _page(rng, n),
                    },
                    headers=headers,
                )
                if r.status_code == 201:
                    saved[i].append(r.json()["id"])
                return r
            if route == "patch":
                return await client.patch(
                    f"/api/bookmarks/{rng.choice(saved[i])}",
                    json={
                        "notes": " ".join(rng.choice(WORDS) for _ in range(12)),
                        "tags": rng.sample(TAGS, rng.randint(0, 3)),
                    },
                    headers=headers,
                )
            if route == "search":
                q = " ".join(rng.sample(WORDS, 2))
                return await client.get("/api/search", params={"q": q}, headers=headers)
            if route == "recommend":
                text = "I am working on " + " ".join(rng.sample(WORDS, 6))
                return await client.post(
                    "/api/recommendations", json={"text": text}, headers=headers
                )
            return await client.get("/api/bookmarks", params={"limit": 20}, headers=headers)

        async def one(rng: random.Random) -> None:
            nonlocal counter
            i = rng.randrange(len(users))
            route = rng.choices([r for r, _ in MIX], [w for _, w in MIX])[0]
            if route == "patch" and not saved[i]:
                route = "save"
            counter += 1
            started = time.perf_counter()
            try:
                r = await send(rng, route, i)
            except httpx.TransportError as exc:  # a reset connection counts as an error
                statuses[route, 0] += 1
                if len(failures) < 10:
                    failures.append(f"{route} connection error: {exc!r}")
                return
            latencies[route].append((time.perf_counter() - started) * 1000)
            statuses[route, r.status_code] += 1
            if r.status_code >= 500 and len(failures) < 10:
                failures.append(f"{route} {r.status_code} {r.text[:300]}")

        async def client_loop(seed: int) -> None:
            nonlocal budget
            rng = random.Random(seed)
            while budget > 0 and time.monotonic() < deadline:
                budget -= 1
                await one(rng)

        await asyncio.gather(*(client_loop(seed) for seed in range(args.concurrency)))
    return statuses, latencies, failures


async def _pipeline_states(database_url: str) -> list[tuple[str, int]]:
    """How far the worker got: it keeps extracting and embedding during the whole run."""
    import asyncpg

    from app.db import asyncpg_url

    conn = await asyncpg.connect(asyncpg_url(database_url).replace("+asyncpg", ""))
    try:
        rows = await conn.fetch("SELECT status, count(*) FROM bookmarks GROUP BY 1 ORDER BY 1")
        return [(r[0], r[1]) for r in rows]
    finally:
        await conn.close()


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


async def run(args: argparse.Namespace) -> int:
    from app.embedded import free_port
    from bench.servers import start_servers, wait_until_up

    tmp = Path(tempfile.mkdtemp(prefix="fuze-soak-"))
    database_url, redis_url, servers = await start_servers(tmp)
    port = free_port()
    env = {
        **os.environ,
        "FUZE_ENV": "test",
        "FUZE_DATA_DIR": str(tmp),
        "FUZE_DATABASE_URL": database_url,
        "FUZE_REDIS_URL": redis_url,
        "FUZE_SECRET_KEY": "soak-" + "x" * 40,
        "FUZE_RATE_LIMIT_ENABLED": "false",
        "FUZE_LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
    }
    api_log = (tmp / "api.log").open("wb")
    api = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "api", "--host", "127.0.0.1", "--port", str(port)],
        env=env, cwd=ROOT, stdout=api_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    worker_log = (tmp / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "workers"], env=env, cwd=ROOT,
        stdout=worker_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            await wait_until_up(client, "/api/health/ready", 600)
        await warm_up(base)
        rss: list[tuple[int, int]] = []

        async def sample() -> None:
            while True:
                rss.append((_rss(api.pid), _rss(worker.pid)))
                await asyncio.sleep(args.seconds / 4)

        sampling = asyncio.create_task(sample())
        started = time.monotonic()
        statuses, latencies, failures = await soak(base, args)
        elapsed = time.monotonic() - started
        sampling.cancel()
        rss.append((_rss(api.pid), _rss(worker.pid)))
        pipeline = await _pipeline_states(database_url)
    finally:
        for proc in (api, worker):
            proc.terminate()
        for proc in (api, worker):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for server in reversed(servers):
            server.stop()
    total = sum(statuses.values())
    errors = sum(n for (_, code), n in statuses.items() if code >= 500 or code == 0)
    print(
        f"{total} requests in {elapsed:.1f} s at concurrency {args.concurrency}, {args.users} users"
    )
    for (route, code), n in sorted(statuses.items()):
        print(f"  {route:<10} {code}  {n}")
    print(f"server errors (5xx, and 0 for a connection reset): {errors}")
    for line in failures:
        print("  " + line)
    print("route       p50 ms   p95 ms   n")
    for route, values in sorted(latencies.items()):
        p50, p95 = statistics.median(values), _pct(values, 95)
        print(f"  {route:<10} {p50:7.1f}  {p95:7.1f}  {len(values)}")
    mib = 1024 * 1024
    print("RSS (MiB) from start to end:")
    print("  API    " + " ".join(f"{a / mib:.0f}" for a, _ in rss))
    print("  worker " + " ".join(f"{w / mib:.0f}" for _, w in rss))
    print("bookmarks by status at the end: " + ", ".join(f"{k} {v}" for k, v in pipeline))
    for folder in tmp.iterdir():  # the servers' data and the model cache; the logs stay
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
    print(f"logs: {tmp}")
    return 1 if errors else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--users", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
