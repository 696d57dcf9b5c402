"""Lists at a size people reach: one user with N bookmarks (5,000), 200 lists (20 at the top,
9 under each) and every bookmark in about 10 lists. Prints the server's latency of the list
tree with its counts (GET /api/lists), a list's page of 50 (alone and with its sub-lists),
the library's page of 50 beside them, and adding 1,000 bookmarks to a list in one request.

    .venv/bin/python bench/lists.py [--size 5000] [--per-list 250] [--rounds 50]
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

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.search_latency import fill, percentiles, raw_gets, sign_in, vocabulary  # noqa: E402
from bench.servers import api_env, start_api, wait_until_up  # noqa: E402


async def run(args: argparse.Namespace) -> None:
    from app.cli import run_migrations
    from app.embedded import EmbeddedPostgres, EmbeddedValkey, free_port

    tmp = Path(tempfile.mkdtemp(prefix="fuze-lists-"))
    pg = EmbeddedPostgres(tmp / "pg")
    database_url = pg.start()
    vk = EmbeddedValkey(tmp / "vk")
    redis_url = vk.start()
    await asyncio.to_thread(run_migrations, database_url)
    port = free_port()
    api = start_api(api_env(tmp, database_url, redis_url), port)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=120) as c:
            await wait_until_up(c, "/api/health", 300)
            await c.post(
                "/api/auth/register",
                json={"username": "latency", "email": "latency@example.com",
                      "password": "bench password"},
            )  # fmt: skip
            token = await sign_in(base)
            h = {"Authorization": f"Bearer {token}"}
            user_id = uuid.UUID((await c.get("/api/users/me", headers=h)).json()["id"])
            rng = random.Random(7)
            await fill(database_url, user_id, args.size, vocabulary(), rng)
            ids: list[str] = []
            cursor = None
            while True:
                page = (
                    await c.get("/api/bookmarks", headers=h,
                                params={"limit": 200, **({"cursor": cursor} if cursor else {})})
                ).json()  # fmt: skip
                ids += [b["id"] for b in page["items"]]
                if not (cursor := page["next_cursor"]):
                    break
            tops, lists = [], []
            for t in range(20):
                top = (await c.post("/api/lists", headers=h, json={"name": f"Topic {t}"})).json()
                tops.append(top["id"])
                lists.append(top["id"])
                for s in range(9):
                    sub = await c.post(
                        "/api/lists", headers=h, json={"name": f"Part {s}", "parent_id": top["id"]}
                    )
                    lists.append(sub.json()["id"])
            started = time.perf_counter()
            for lid in lists:
                chosen = rng.sample(ids, min(args.per_list, len(ids)))
                r = await c.post(f"/api/lists/{lid}/bookmarks", headers=h,
                                 json={"bookmark_ids": chosen})  # fmt: skip
                r.raise_for_status()
            filled = time.perf_counter() - started
            extra = (await c.post("/api/lists", headers=h, json={"name": "Bulk"})).json()["id"]
            t = time.perf_counter()
            r = await c.post(f"/api/lists/{extra}/bookmarks", headers=h,
                             json={"bookmark_ids": rng.sample(ids, min(1000, len(ids)))})  # fmt: skip
            r.raise_for_status()
            bulk_ms = (time.perf_counter() - t) * 1000

        print(f"{len(ids)} bookmarks, {len(lists)} lists, {len(lists) * args.per_list} memberships")
        print(f"filling them through POST /api/lists/{{id}}/bookmarks: {filled:.1f} s")
        print(f"POST 1,000 ids to a list in one request: {bulk_ms:.0f} ms")
        n = args.rounds
        cases = {
            "GET /api/lists (tree, counts)": ["/api/lists"] * n,
            "GET /api/bookmarks?limit=50 (library)": ["/api/bookmarks?limit=50"] * n,
            "GET /api/bookmarks?list=&limit=50": [
                f"/api/bookmarks?list={rng.choice(lists)}&limit=50" for _ in range(n)
            ],
            "GET /api/bookmarks?list=&sublists=true&limit=50": [
                f"/api/bookmarks?list={rng.choice(tops)}&sublists=true&limit=50" for _ in range(n)
            ],
        }
        for name, paths in cases.items():
            await raw_gets(base, token, paths[:5])  # warm
            print(f"{name:50} {percentiles(await raw_gets(base, token, paths))}")
    finally:
        api.terminate()
        api.wait(30)
        vk.stop()
        pg.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=5000)
    parser.add_argument("--per-list", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=50)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
