"""The tag autocomplete and the tags page at many tags: one user with N bookmarks and T tags
(used as tags are: a few on thousands of pages, most on one or two), timed through a real API.

    .venv/bin/python bench/tags.py [--bookmarks 50000] [--tags 20000] [--samples 300]

Prints p50/p95/p99 of what the web app asks while a person types a tag (`GET
/api/tags?q=<1-4 letters>&limit=12`, as the tag fields of the save form and a bookmark's page
ask), of the tags page (`GET /api/tags`, the 1,000 most used) and of the merge suggestions.
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

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.search_latency import fill, vocabulary  # noqa: E402
from bench.servers import api_env, start_api, start_servers, wait_until_up  # noqa: E402


def tag_names(vocab: list[str], n: int, rng: random.Random) -> list[str]:
    """n distinct tag names: single words, two-word phrases and hyphenated ones."""
    names: set[str] = set()
    while len(names) < n:
        words = rng.choices(vocab, k=rng.choice((1, 1, 2, 2, 3)))
        names.add(rng.choice((" ", "-", "_")).join(words) if len(words) > 1 else words[0])
    return sorted(names)


async def tag(database_url: str, user_id: uuid.UUID, names: list[str], rng: random.Random) -> int:
    """Give the user's bookmarks the tags, by a Zipf-like law: the k-th tag on about N/k
    pages (at least one). Returns the number of bookmark-tag rows."""
    import asyncpg

    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        bookmarks = [
            r["id"]
            for r in await conn.fetch("SELECT id FROM bookmarks WHERE user_id = $1", user_id)
        ]
        tags = [(uuid.uuid4(), user_id, name) for name in names]
        await conn.executemany(
            "INSERT INTO tags (id, user_id, name, created_at) VALUES ($1, $2, $3, now())", tags
        )
        pairs: set[tuple[uuid.UUID, uuid.UUID]] = set()
        for k, (tid, _, _) in enumerate(tags, start=1):
            for b in rng.sample(bookmarks, max(1, min(len(bookmarks), len(bookmarks) // (2 * k)))):
                pairs.add((b, tid))
        # Loaded with the row triggers off (they would rewrite each bookmark's search text),
        # then the counts those triggers keep set in one statement, as the migration does.
        await conn.execute("SET session_replication_role = replica")
        await conn.copy_records_to_table(
            "bookmark_tags", records=list(pairs), columns=["bookmark_id", "tag_id"]
        )
        await conn.execute("SET session_replication_role = DEFAULT")
        await conn.execute(
            "UPDATE tags t SET bookmarks_count = c.n"
            " FROM (SELECT tag_id, count(*) AS n FROM bookmark_tags GROUP BY tag_id) c"
            " WHERE c.tag_id = t.id"
        )
        await conn.execute("VACUUM ANALYZE tags")
        await conn.execute("VACUUM ANALYZE bookmark_tags")
        return len(pairs)
    finally:
        await conn.close()


def line(label: str, samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=100)
    return f"| {label} | {len(samples)} | {q[49]:.1f} | {q[94]:.1f} | {q[98]:.1f} |"


async def run(args: argparse.Namespace) -> None:
    from app.embedded import free_port

    folder = Path(tempfile.mkdtemp(prefix="fuze-tags-"))
    database_url, redis_url, servers = await start_servers(folder)
    rng = random.Random(5)
    vocab = vocabulary()
    port = free_port()
    api = start_api(api_env(folder, database_url, redis_url), port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as c:
            await wait_until_up(c, "/api/health/ready", 600)
            account = {"username": "bench", "email": "bench@example.com", "password": "bench pw 1"}
            await c.post("/api/auth/register", json=account)
            login = {"login": "bench", "password": "bench pw 1"}
            token = (await c.post("/api/auth/login", json=login)).json()["access_token"]
            c.headers["Authorization"] = f"Bearer {token}"
            me = uuid.UUID((await c.get("/api/users/me")).json()["id"])
            started = time.perf_counter()
            await fill(database_url, me, args.bookmarks, vocab, rng)
            names = tag_names(vocab, args.tags, rng)
            rows = await tag(database_url, me, names, rng)
            print(
                f"{args.bookmarks:,} bookmarks, {len(names):,} tags on {rows:,} bookmark-tag rows,"
                f" made in {time.perf_counter() - started:.0f} s"
            )
            typed = [n[:k] for n in rng.sample(names, args.samples) for k in (1, 2, 4)]
            rng.shuffle(typed)
            for q in typed[:20]:  # warm the connections and caches
                await c.get("/api/tags", params={"q": q, "limit": 12})
            timings: dict[str, list[float]] = {}
            for q in typed:
                t = time.perf_counter()
                r = await c.get("/api/tags", params={"q": q, "limit": 12})
                label = f"autocomplete, {len(q)} letter{'s' if len(q) > 1 else ''} typed"
                timings.setdefault(label, []).append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200 and all(
                    q in i["name"].lower() for i in r.json()["items"]
                )
            for label, path in (
                ("tags page (the 1,000 most used)", "/api/tags"),
                ("merge suggestions", "/api/tags/suggestions"),
            ):
                for _ in range(args.page_samples):
                    t = time.perf_counter()
                    assert (await c.get(path)).status_code == 200
                    timings.setdefault(label, []).append((time.perf_counter() - t) * 1000)
            print("\n| request | n | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|")
            for label, samples in timings.items():
                print(line(label, samples))
    finally:
        api.terminate()
        api.wait()
        for server in reversed(servers):
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bookmarks", type=int, default=50_000)
    parser.add_argument("--tags", type=int, default=20_000)
    parser.add_argument("--samples", type=int, default=300, help="tag names typed, 3 ways each")
    parser.add_argument("--page-samples", type=int, default=20)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
