"""What row-level security costs: the p50/p95 of the statements behind search and the
bookmark list, as the app's role (fuze_app: policies apply) and as the tables' owner (no
policies), on the same data and the same connections' code.

    .venv/bin/python bench/rls.py [--rows 20000] [--users 3] [--repeat 300]

Each of `--users` users gets `--rows` bookmarks (titles from SciFact's vocabulary, random unit
vectors) in one database (embedded, or FUZE_DATABASE_URL). Measured for the first user:
- list: a page of 50 newest bookmarks with their tags through an ORM session (BEGIN, the
  scope in the same message, the page, the tags, COMMIT), as GET /api/bookmarks reads it;
- nearest: the 100 nearest pages through the read pool (search's semantic candidates);
- keyword: the postings ranking of a two-word query through the read pool;
- outs: what a page of 20 results shows, through the read pool.
Then what a read-pool statement costs when its connection was last used for another user
(the scope is set first: one more round trip).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


async def _seed(database_url: str, users: int, rows: int) -> list[uuid.UUID]:
    import asyncpg

    from bench.search_latency import vocabulary

    words = vocabulary()
    rng = random.Random(3)
    conn = await asyncpg.connect(database_url)  # the owner: no policies while seeding
    ids = []
    try:
        for n in range(users):
            uid = uuid.uuid4()
            ids.append(uid)
            await conn.execute(
                "INSERT INTO users (id, username, email, password_hash, created_at, updated_at)"
                " VALUES ($1, $2::text, $2::text || '@example.com', '-', now(), now())",
                uid,
                f"bench{n}",
            )
            titles = [" ".join(rng.sample(words, 6)) for _ in range(rows)]
            await conn.execute(
                "INSERT INTO bookmarks (id, user_id, url, normalized_url, title, status,"
                " saved_at, updated_at, status_changed_at)"
                " SELECT gen_random_uuid(), $1, 'https://b.example/' || i,"
                " 'https://b.example/' || i, t, 'ready',"
                " now() - i * interval '1 minute', now(), now()"
                " FROM unnest($2::text[]) WITH ORDINALITY AS x(t, i)",
                uid,
                titles,
            )
            await conn.execute(
                "INSERT INTO bookmark_vectors (bookmark_id, user_id, embedding)"
                " SELECT id, user_id, (SELECT array_agg(random() - 0.5) FROM"
                " generate_series(1, 384) WHERE b.id IS NOT NULL)::vector"
                " FROM bookmarks b WHERE user_id = $1",
                uid,
            )
            await conn.execute(
                "INSERT INTO tags (id, user_id, name, created_at)"
                " SELECT gen_random_uuid(), $1, 'tag' || g, now() FROM generate_series(1, 20) g",
                uid,
            )
            await conn.execute(
                "INSERT INTO bookmark_tags (bookmark_id, tag_id)"
                " SELECT b.id, (SELECT t.id FROM tags t WHERE t.user_id = $1"
                "  ORDER BY t.name OFFSET (abs(hashtext(b.id::text)) % 20) LIMIT 1)"
                " FROM bookmarks b WHERE b.user_id = $1",
                uid,
            )
            print(f"seeded user {n + 1} of {users}: {rows} bookmarks", flush=True)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return ids


def _summary(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1]


async def _measure(database_url: str, role: str, uid: uuid.UUID, other: uuid.UUID, repeat: int):
    import numpy as np

    from app.bookmarks import service as bookmarks
    from app.bookmarks.models import Bookmark
    from app.config import Settings
    from app.db import ReadPool, Scope, bind_user, create_engine, create_sessionmaker
    from app.search import service as search
    from app.users.models import User

    settings = Settings(database_url=database_url, database_role=role, db_pool_size=1)
    engine = create_engine(settings, pool_size=1, max_overflow=0)
    maker = create_sessionmaker(engine)
    reads = ReadPool(settings)
    rng = np.random.default_rng(5)
    async with maker() as session:
        await bind_user(session, uid)
        user = await session.get(User, uid)
        page = [c.out["id"] for c in (await bookmarks.list_page(reads, uid, limit=20))[0]]
        word = (await session.get(Bookmark, page[0])).title.split()[:2]
    assert user is not None and len(page) == 20

    async def listing() -> None:
        assert len((await bookmarks.list_page(reads, uid, limit=50))[0]) == 50

    async def nearest() -> None:
        vector = rng.standard_normal(384).astype(np.float32)
        assert len(await search.nearest(reads, uid, vector, 100)) == 100

    async def keyword() -> None:
        assert await search.keyword_fast(reads, uid, " ".join(word))

    async def outs() -> None:
        assert len(await bookmarks.outs_of(reads, uid, page)) == 20

    async def switching() -> float:  # another user's statement came first on the connection
        await reads.fetch("SELECT 1", user=other)
        started = time.perf_counter()
        await bookmarks.outs_of(reads, uid, page)
        return time.perf_counter() - started

    results: dict[str, tuple[float, float]] = {}
    for name, action in [
        ("list", listing),
        ("nearest", nearest),
        ("keyword", keyword),
        ("outs", outs),
    ]:
        for _ in range(20):  # warm: prepared statements, buffers
            await action()
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            await action()
            times.append(time.perf_counter() - started)
        results[name] = _summary(times)
    # Where the time goes: PostgreSQL's own planning and execution times of the nearest-pages
    # statement (EXPLAIN ANALYZE), medians of 50.
    pool = await reads._get()
    planning, execution = [], []
    async with pool.acquire() as conn:
        await conn.use(Scope(user_id=uid))
        for _ in range(50):
            vector = search.vector_text(rng.standard_normal(384).astype(np.float32))
            plan = await conn.fetch("EXPLAIN ANALYZE " + search._NEAREST, uid, vector, 100)
            lines = {r[0].split(":")[0]: r[0] for r in plan}
            planning.append(float(lines["Planning Time"].split()[2]) / 1000)
            execution.append(float(lines["Execution Time"].split()[2]) / 1000)
    results["nearest: planning"] = _summary(planning)
    results["nearest: execution"] = _summary(execution)
    if role:
        results["outs after another user"] = _summary([await switching() for _ in range(repeat)])
    await reads.close()
    await engine.dispose()
    return results


async def run(args: argparse.Namespace) -> None:
    from bench.servers import start_servers

    with tempfile.TemporaryDirectory() as folder:
        database_url, _, servers = await start_servers(Path(folder))
        try:
            ids = await _seed(database_url, args.users, args.rows)
            # Alternate the two, so that neither gets the warmer machine.
            runs: dict[str, list[dict[str, tuple[float, float]]]] = {"fuze_app": [], "": []}
            for _ in range(args.rounds):
                for role in runs:
                    runs[role].append(
                        await _measure(database_url, role, ids[0], ids[1], args.repeat)
                    )
        finally:
            for server in reversed(servers):
                server.stop()
    print(
        f"\n{args.users} users x {args.rows} bookmarks, {args.repeat} runs x {args.rounds} rounds"
        " per statement; ms (p50 / p95)"
    )
    print(f"{'statement':<24}{'owner, no RLS':>18}{'fuze_app, RLS':>18}{'p50 cost':>12}")
    for name in runs["fuze_app"][0]:
        with_rls = [r[name] for r in runs["fuze_app"]]
        p50 = statistics.median(x[0] for x in with_rls) * 1000
        p95 = statistics.median(x[1] for x in with_rls) * 1000
        if name in runs[""][0]:
            without = [r[name] for r in runs[""]]
            b50 = statistics.median(x[0] for x in without) * 1000
            b95 = statistics.median(x[1] for x in without) * 1000
            base, cost = f"{b50:.2f} / {b95:.2f}", f"{p50 - b50:+.3f}"
        else:
            base = cost = "-"
        print(f"{name:<24}{base:>18}{f'{p50:.2f} / {p95:.2f}':>18}{cost:>12}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--users", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
