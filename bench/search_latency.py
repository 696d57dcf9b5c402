"""Latency of GET /api/search (hybrid) for one user with N bookmarks: p50/p95/p99, sequential
and at concurrency 16, through a real uvicorn API process.

    .venv/bin/python bench/search_latency.py --sizes 10000,100000 [--other-rows 200000]

Bookmarks are synthetic but varied (sentences drawn from SciFact's vocabulary); their vectors
are SciFact embeddings moved by random noise (see synthetic_vector); `--other-rows` adds rows
of other users (50k each) to the same tables: those hashed to the measured user's partition
of `bookmark_vectors` share its HNSW graph (the run prints how many). Queries are distinct, so
each request also embeds its query (then the same queries once more: their vectors from the
Redis cache, as for a query asked before).
It also prints the HNSW recall under the per-user filter, and the latency of project
recommendations (each project's first call computed, its second from the cache). Requests go
through httpx, and again through a minimal keep-alive HTTP/1.1 client ("minimal client"):
httpx's own CPU time per request (1.5-2 ms here) lands on the same 2 cores as the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "data" / "retrieval" / "corpus.jsonl"


def vocabulary() -> list[str]:
    words: set[str] = set()
    with CORPUS.open() as f:
        for i, line in enumerate(f):
            words.update(
                w for w in json.loads(line)["text"].lower().split() if w.isalpha() and len(w) > 3
            )
            if i > 2000:
                break
    return sorted(words)


_REAL: list[np.ndarray] = []


def synthetic_vector(rng: random.Random) -> np.ndarray:
    """A unit vector shaped like real ones: a SciFact abstract's embedding (bench/.cache,
    made by bench/retrieval.py) moved by noise about as large as itself, so that the
    vectors cluster by topic as real embeddings do. Random unit vectors (no structure at all,
    the hardest case for any graph index) when that cache is missing."""
    if not _REAL:
        cached = sorted((ROOT / "bench" / ".cache").glob("scifact-*.npy"))
        _REAL.append(np.load(cached[0]) if cached else np.zeros((0, 384), dtype=np.float32))
    noise = np.random.default_rng(rng.getrandbits(32)).standard_normal(384).astype(np.float32)
    noise /= np.linalg.norm(noise)
    vec = _REAL[0][rng.randrange(len(_REAL[0]))] + noise if len(_REAL[0]) else noise
    return vec / np.linalg.norm(vec)


BULK_BEFORE = [
    "DROP INDEX IF EXISTS ix_bookmark_vectors_embedding_hnsw",
    "DROP INDEX IF EXISTS ix_search_postings_user_lexeme_impact",
    "DROP INDEX IF EXISTS ix_search_postings_bookmark_id",
]
BULK_AFTER = [
    "CREATE INDEX ix_search_postings_user_lexeme_impact ON search_postings"
    " (user_id, lexeme, impact DESC) INCLUDE (bookmark_id)",
    "CREATE INDEX ix_search_postings_bookmark_id ON search_postings (bookmark_id)",
    "CREATE INDEX ix_bookmark_vectors_embedding_hnsw ON bookmark_vectors USING hnsw"
    " (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 128)",
]


async def fill(
    database_url: str,
    user_id: uuid.UUID,
    n: int,
    vocab: list[str],
    rng: random.Random,
    *,
    others: bool = False,
) -> None:
    """n synthetic bookmarks for this user. `others`: rows of another user, there only to
    share the tables (and, for users hashed to the measured user's partition of the vectors,
    its HNSW graph) with the measured user: loaded with the indexes
    dropped and left so (the measured user's fill builds them once over every row), and
    without BM25 postings (another user's postings only deepen the btree that this user's
    keyword search reads under its own user_id prefix; building 100 million of them for a
    million rows would take longer than the rest of the benchmark)."""
    import asyncpg

    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute(
            "INSERT INTO users (id, username, email, password_hash, created_at, updated_at)"
            " VALUES ($1, $2, $3, '-', now(), now()) ON CONFLICT DO NOTHING",
            user_id, f"u{user_id.hex[:12]}", f"{user_id.hex}@bench.invalid",
        )  # fmt: skip
        # Row triggers off while loading (one trigger per row keeps the search statistics and
        # postings; rebuilt below in one statement per user, as an operator would), and the
        # bulk indexes built after the rows rather than row by row.
        await conn.execute("SET session_replication_role = replica")
        for statement in BULK_BEFORE:
            await conn.execute(statement)
        batch = 2000
        for start in range(0, n, batch):
            records = []
            vectors = []
            for _ in range(min(batch, n - start)):
                title = " ".join(rng.choices(vocab, k=rng.randint(3, 8))).capitalize()
                body = ". ".join(
                    " ".join(rng.choices(vocab, k=rng.randint(8, 20)))
                    for _ in range(rng.randint(3, 12))
                )
                vec = synthetic_vector(rng)
                bid = uuid.uuid4()
                records.append(
                    (bid, user_id, f"https://bench.invalid/{bid}", f"https://bench.invalid/{bid}", title, body,
                     "ready")
                )  # fmt: skip
                vectors.append((bid, user_id, "[" + ",".join(f"{x:.6f}" for x in vec) + "]"))
            await conn.executemany(
                "INSERT INTO bookmarks (id, user_id, url, normalized_url, page_title, text, status,"
                " saved_at, updated_at, status_changed_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, now(), now(), now())",
                records,
            )
            await conn.executemany(
                "INSERT INTO bookmark_vectors (bookmark_id, user_id, embedding)"
                " VALUES ($1, $2, $3::vector)",
                vectors,
            )
        await conn.execute("SET session_replication_role = DEFAULT")
        if others:
            return
        await conn.execute("SELECT fuze_rebuild_search($1)", user_id)
        # An HNSW graph built within maintenance_work_mem is built much sooner (a million
        # vectors of 384 dimensions take about 1.6 GB).
        await conn.execute("SET maintenance_work_mem = '3GB'")
        for statement in BULK_AFTER:
            await conn.execute(statement)
        await conn.execute("VACUUM ANALYZE bookmarks")
        await conn.execute("VACUUM ANALYZE bookmark_vectors")
        await conn.execute("VACUUM ANALYZE search_postings")
        await conn.execute("VACUUM ANALYZE search_terms")
    finally:
        await conn.close()


async def semantic_recall(
    database_url: str,
    redis_url: str,
    user_id: uuid.UUID,
    rng: random.Random,
    queries: list[str],
    samples: int = 40,
) -> str:
    """Recall of the HNSW search under the per-user filter (as the search service runs it:
    iterative scan, relaxed order, its ef_search) against an exact scan of the user's rows,
    for two kinds of query vectors: vectors shaped like the pages' own (synthetic_vector),
    and the vectors of the search queries timed above (the API cached them in Redis)."""
    import asyncpg
    import redis.asyncio as aioredis

    from app.db import HNSW_EF_SEARCH
    from app.embeddings.service import DIM, cache_key
    from app.search.service import CANDIDATES

    cache = aioredis.from_url(redis_url)
    asked = [await cache.get(cache_key(q)) for q in queries[:samples]]
    await cache.aclose()
    kinds = {
        "page-like vectors": [synthetic_vector(rng) for _ in range(samples)],
        "the timed queries' vectors": [
            np.frombuffer(raw, dtype=np.float32) for raw in asked if raw and len(raw) == DIM * 4
        ],
    }
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    sql = (
        "SELECT bookmark_id, embedding <=> $2::vector FROM bookmark_vectors"
        " WHERE user_id = $1 ORDER BY embedding <=> $2::vector LIMIT $3"
    )
    found = []
    try:
        for kind, vectors in kinds.items():
            at10: list[float] = []
            at100: list[float] = []
            for vec in vectors:
                q = "[" + ",".join(f"{x:.6f}" for x in vec) + "]"
                async with conn.transaction():
                    await conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
                    await conn.execute(f"SET LOCAL hnsw.ef_search = {HNSW_EF_SEARCH}")
                    rows = await conn.fetch(sql, user_id, q, CANDIDATES)
                # relaxed_order hands rows over roughly by distance: sorted, as the service does
                approx = [r[0] for r in sorted(rows, key=lambda r: r[1])]
                async with conn.transaction():
                    await conn.execute("SET LOCAL enable_indexscan = off")
                    exact = [r[0] for r in await conn.fetch(sql, user_id, q, CANDIDATES)]
                at10.append(len(set(approx[:10]) & set(exact[:10])) / 10)
                at100.append(len(set(approx) & set(exact)) / max(len(exact), 1))
            if at10:
                found.append(
                    f"{kind} ({len(at10)}) @10 {statistics.mean(at10):.3f},"
                    f" @100 {statistics.mean(at100):.3f}"
                )
        partition, mine = await conn.fetchrow(
            "SELECT count(*), count(*) FILTER (WHERE user_id = $1) FROM bookmark_vectors"
            " WHERE tableoid = (SELECT tableoid FROM bookmark_vectors WHERE user_id = $1 LIMIT 1)",
            user_id,
        )
    finally:
        await conn.close()
    return (
        "HNSW recall under the user filter: "
        + "; ".join(found)
        + f" (the user's partition of the vectors: {partition} rows, {mine} of them the user's)"
    )


def percentiles(samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=100)
    return f"p50 {q[49]:.1f} ms  p95 {q[94]:.1f} ms  p99 {q[98]:.1f} ms"


async def raw_gets(base: str, token: str, paths: list[str]) -> list[float]:
    """The same GETs, one after another, from a minimal HTTP/1.1 keep-alive client: httpx
    spends 1.5-2 ms of CPU per request on this 2-core machine, beside the server it measures,
    so this shows what the server itself takes."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    samples: list[float] = []
    try:
        for path in paths:
            t = time.perf_counter()
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            samples.append((time.perf_counter() - t) * 1000)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.decode(errors="replace").splitlines()[0])
    finally:
        writer.close()
    return samples


async def forget_query_vectors(redis_url: str) -> int:
    """Delete the cached query vectors: a kept database keeps its Valkey too, and the queries
    are the same on every run (seeded), so a second run would time cached vectors as if
    they were new queries. Returns how many there were."""
    import redis.asyncio as aioredis

    cache = aioredis.from_url(redis_url)
    try:
        keys = [k async for k in cache.scan_iter(match="fuze:emb:*")]  # cache_key's prefix
        if keys:
            await cache.delete(*keys)
        return len(keys)
    finally:
        await cache.aclose()


async def prewarm(database_url: str) -> None:
    """The HNSW index read into shared buffers (pg_prewarm), as it is on a server that has
    been answering searches for a while: searches walk it at random, and a cold one (1M rows:
    about 2 GB) costs the first few hundred searches several times their usual time."""
    import asyncpg

    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        # Every partition's graph: the measured user's and the others' (as on a server whose
        # users all search).
        for (index,) in await conn.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'ix_bookmark_vectors_embedding_hnsw'::regclass"
        ):
            await conn.execute("SELECT pg_prewarm($1::regclass)", index)
    except asyncpg.PostgresError as exc:  # not built with contrib: warm by searching
        print(f"  (no pg_prewarm: {exc})", flush=True)
    finally:
        await conn.close()


async def sign_in(base: str) -> str:
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        r = await c.post("/api/auth/login", json={"login": "latency", "password": "bench password"})
        r.raise_for_status()
        return str(r.json()["access_token"])


async def measure(base: str, token: str, queries: list[str], concurrency: int) -> list[float]:
    headers = {"Authorization": f"Bearer {token}"}
    samples: list[float] = []
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(
        base_url=base, timeout=60, limits=httpx.Limits(max_connections=32)
    ) as c:

        async def one(q: str) -> None:
            async with sem:
                t = time.perf_counter()
                r = await c.get("/api/search", headers=headers, params={"q": q, "limit": 20})
                samples.append((time.perf_counter() - t) * 1000)
                r.raise_for_status()

        await asyncio.gather(*(one(q) for q in queries))
    return samples


async def floor(base: str, token: str, n: int = 200) -> list[float]:
    """GET /api/users/me, sequentially: what any authenticated request costs here (HTTP,
    FastAPI, token check and one query), the floor under the figures above."""
    headers = {"Authorization": f"Bearer {token}"}
    samples: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        for i in range(n + 20):
            t = time.perf_counter()
            r = await c.get("/api/users/me", headers=headers)
            if i >= 20:
                samples.append((time.perf_counter() - t) * 1000)
            r.raise_for_status()
    return samples


async def recommendations(
    base: str, token: str, vocab: list[str], rng: random.Random, n: int
) -> tuple[list[float], list[float], list[str]]:
    """GET /api/projects/{id}/recommendations for n new projects: the first call of each is
    computed, the second served from the cache (and the paths, to time the cache again)."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        ids = []
        for _ in range(n + 5):
            r = await c.post(
                "/api/projects",
                headers=headers,
                json={
                    "title": " ".join(rng.choices(vocab, k=rng.randint(2, 5))),
                    "description": " ".join(rng.choices(vocab, k=12)),
                    "technologies": rng.choices(vocab, k=2),
                },
            )
            r.raise_for_status()
            ids.append(r.json()["id"])
        uncached: list[float] = []
        cached: list[float] = []
        # Every project's answer computed, then every one again from the cache (nothing
        # changes this user's data in between, so each second answer must be the cached one).
        # (The cached pass three times over: p95 of some 55 samples is their third slowest.)
        passes = ((uncached, False), (cached, True), (cached, True), (cached, True))
        for samples, expect_cached in passes:
            for i, pid in enumerate(ids):
                t = time.perf_counter()
                r = await c.get(f"/api/projects/{pid}/recommendations", headers=headers)
                if i >= 5:  # the first few warm the process up
                    samples.append((time.perf_counter() - t) * 1000)
                r.raise_for_status()
                assert r.json()["cached"] is expect_cached, r.json()["cached"]
        return uncached, cached, [f"/api/projects/{pid}/recommendations" for pid in ids[5:]]


async def run(args: argparse.Namespace) -> None:
    from app.cli import run_migrations
    from app.embedded import EmbeddedPostgres, EmbeddedValkey, free_port

    # --keep: the database in that folder, kept for the next run with the same --keep (a
    # million rows take about half an hour to load on this machine).
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="fuze-latency-"))
    tmp.mkdir(parents=True, exist_ok=True)
    state_file = tmp / "bench-state.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    pg = EmbeddedPostgres(tmp / "pg")
    database_url = pg.start()
    vk = EmbeddedValkey(tmp / "vk")
    redis_url = vk.start()
    await asyncio.to_thread(run_migrations, database_url)
    rng = random.Random(7)
    vocab = vocabulary()
    port = free_port()
    from bench.servers import api_env, start_api, wait_until_up

    api = start_api(api_env(tmp, database_url, redis_url), port)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60) as c:
            await wait_until_up(c, "/api/health", 300)
            await c.post(
                "/api/auth/register",
                json={
                    "username": "latency",
                    "email": "latency@example.com",
                    "password": "bench password",
                },
            )  # (a 409 on a kept database: the user is there)
        token = await sign_in(base)
        async with httpx.AsyncClient(base_url=base, timeout=60) as c:
            me = (await c.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})).json()
        user_id = uuid.UUID(me["id"])
        if state.get("other_rows", 0) not in (0, args.other_rows):
            raise SystemExit(f"{tmp} holds {state['other_rows']} other rows, not {args.other_rows}")
        if args.other_rows and not state.get("other_rows"):
            started = time.perf_counter()
            left = args.other_rows
            while left > 0:  # 50k rows per other user
                await fill(database_url, uuid.uuid4(), min(50_000, left), vocab, rng, others=True)
                left -= 50_000
            print(
                f"other users' rows: {args.other_rows} ({time.perf_counter() - started:.0f} s to insert)",
                flush=True,
            )
            state["other_rows"] = args.other_rows
            state_file.write_text(json.dumps(state))
        have = state.get("have", 0)
        for size in [int(s) for s in args.sizes.split(",")]:
            if size < have:
                raise SystemExit(f"{tmp} holds {have} bookmarks for the user, more than {size}")
            started = time.perf_counter()
            if size > have:
                await fill(database_url, user_id, size - have, vocab, rng)
            have = size
            state["have"] = have
            state_file.write_text(json.dumps(state))
            print(
                f"\n{size} bookmarks for the user ({time.perf_counter() - started:.0f} s to insert)",
                flush=True,
            )
            token = await sign_in(base)  # a fresh one: loading may outlast an access token
            queries = [
                " ".join(rng.choices(vocab, k=rng.randint(1, 4)))
                for _ in range(args.queries * 3 + 20)
            ]
            await prewarm(database_url)
            forgotten = await forget_query_vectors(redis_url)
            if forgotten:
                print(f"  (forgot {forgotten} cached query vectors of an earlier run)")
            await measure(base, token, queries[:20], 4)  # warm-up: model, caches, connections
            seq = await measure(base, token, queries[20 : 20 + args.queries], 1)
            conc = await measure(
                base, token, queries[20 + args.queries : 20 + 2 * args.queries], 16
            )
            raw = await raw_gets(
                base,
                token,
                [
                    f"/api/search?{urlencode({'q': q, 'limit': 20})}"
                    for q in queries[20 + 2 * args.queries :]
                ],
            )
            # The same queries again: their vectors now come from the Redis cache.
            again = await measure(base, token, queries[20 : 20 + args.queries], 1)
            print(f"  sequential:     {percentiles(seq)}")
            print(f"  sequential, minimal client: {percentiles(raw)}")
            print(f"  sequential, queries asked before (vector cached): {percentiles(again)}")
            print(
                "  "
                + await semantic_recall(
                    database_url, redis_url, user_id, rng, queries[20 : 20 + args.queries]
                )
            )
            print(
                f"  concurrency 16: {percentiles(conc)}  ({len(conc) / (sum(conc) / 16 / 1000):.0f} req/s approx)"
            )
            if args.projects:
                uncached, cached, paths = await recommendations(
                    base, token, vocab, rng, args.projects
                )
                print(f"  recommendations uncached: {percentiles(uncached)}")
                print(f"  recommendations cached:   {percentiles(cached)}")
                raw_cached = await raw_gets(base, token, paths * 3)
                print(f"  recommendations cached, minimal client: {percentiles(raw_cached)}")
            print(f"  floor (GET /api/users/me): {percentiles(await floor(base, token))}")
            floor_raw = await raw_gets(base, token, ["/api/users/me"] * 220)
            print(f"  floor, minimal client: {percentiles(floor_raw[20:])}")
    finally:
        api.terminate()
        api.wait(20)
        vk.stop()
        pg.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--other-rows", type=int, default=0)
    parser.add_argument(
        "--keep", metavar="DIR", help="build the database in DIR and reuse it on later runs"
    )
    parser.add_argument(
        "--projects", type=int, default=60, help="projects whose recommendations are timed"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
