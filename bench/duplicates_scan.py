"""How long a duplicate scan (POST /api/duplicates/scan) takes for a large library.

One user with N bookmarks (10,000 by default) in real PostgreSQL + pgvector (embedded, or
FUZE_DATABASE_URL): vectors drawn around N/20 topics, so that most pages have neighbours
above the candidate threshold and the text check runs for them (a harder library than a
real one, where few pages are that close), texts of 600 words from a topic's vocabulary,
and one page in 50 a copy of another (same text, a header added). The scan runs as the
worker's job does: batches of SCAN_BATCH pages, one transaction each (app.duplicates.jobs).

    python bench/duplicates_scan.py [--pages 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.servers import start_servers  # noqa: E402


async def run(pages: int) -> None:
    from sqlalchemy import text

    from app.config import Settings
    from app.db import bind_user, create_engine, create_sessionmaker
    from app.duplicates import service

    with tempfile.TemporaryDirectory() as folder:
        database_url, _, servers = await start_servers(Path(folder))
        try:
            owner = create_engine(Settings(database_role=""), url=database_url)
            app_engine = create_engine(Settings(), url=database_url)
            rng = random.Random(1)
            np_rng = np.random.default_rng(1)
            user_id = uuid.uuid4()
            topics = max(1, pages // 20)
            centres = np_rng.normal(size=(topics, 384))
            vocab = [[f"w{t}x{i}" for i in range(400)] for t in range(topics)]
            rows, vectors = [], []
            for n in range(pages):
                topic = n % topics
                if n % 50 == 49:  # a copy of the page before it
                    words = "Originally published elsewhere. " + rows[-1]["text"]
                    vector = vectors[-1] + np_rng.normal(scale=0.05, size=384)
                else:
                    words = " ".join(rng.choice(vocab[topic]) for _ in range(600))
                    vector = centres[topic] + np_rng.normal(scale=0.8, size=384)
                vector = vector / np.linalg.norm(vector)
                rows.append({"id": uuid.uuid4(), "url": f"https://site.example/{n}", "text": words})
                vectors.append(vector)
            started = time.perf_counter()
            async with owner.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO users (id, username, email, password_hash, created_at)"
                        " VALUES (:id, 'bench', 'bench@example.com', 'x', now())"
                    ),
                    {"id": user_id},
                )
                await conn.execute(
                    text(
                        "INSERT INTO bookmarks (id, user_id, url, normalized_url, text, status,"
                        " saved_at, updated_at, status_changed_at)"
                        " VALUES (:id, :u, :url, :url, :text, 'ready', now(), now(), now())"
                    ),
                    [{**r, "u": user_id} for r in rows],
                )
                await conn.execute(
                    text(
                        "INSERT INTO bookmark_vectors (user_id, bookmark_id, embedding)"
                        " VALUES (:u, :id, :v)"
                    ),
                    [
                        {"u": user_id, "id": r["id"], "v": "[" + ",".join(map(str, v)) + "]"}
                        for r, v in zip(rows, vectors, strict=True)
                    ],
                )
                await conn.execute(text("ANALYZE bookmarks, bookmark_vectors"))
            print(f"{pages} pages inserted in {time.perf_counter() - started:.0f} s")

            maker = create_sessionmaker(app_engine)
            started = time.perf_counter()
            found = checked = 0
            after = None
            while True:
                async with maker() as session:
                    await bind_user(session, user_id)
                    ids = await service.scan_ids(session, user_id, after)
                    if not ids:
                        break
                    found += await service.check(session, user_id, ids)
                    await session.commit()
                checked += len(ids)
                after = ids[-1]
            seconds = time.perf_counter() - started
            print(
                f"scan: {checked} pages checked in {seconds:.1f} s "
                f"({checked / seconds:.0f} pages/s), {found} pairs found "
                f"(the library holds {pages // 50})"
            )
            await app_engine.dispose()
            await owner.dispose()
        finally:
            for server in reversed(servers):
                server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=10_000)
    asyncio.run(run(parser.parse_args().pages))


if __name__ == "__main__":
    main()
