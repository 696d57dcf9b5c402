"""Recommendation quality on BEIR SciFact (../shared/data/retrieval): each query becomes a
project (the query as its title, its embedding stored as a project's is), the corpus one
user's bookmarks; nDCG@10 and MRR@10 of the recommender against plain hybrid search, then
with simulated feedback, and the latency of the endpoint path (uncached and cached). On the
odd query ids (held out from the relevance floor's choice), nDCG@10 with and without the
floor and the precision of what it lists; news headlines as off-topic contexts.

    .venv/bin/python bench/recommend.py [--queries 300]

Simulated feedback, per query: the non-relevant items ranked above the first relevant one
in the top 10 (at most 3) are marked irrelevant, and one judged-relevant document is marked
relevant (the best-ranked one in the top 100, else the first judged one). Then the list is
computed again. Two views: "all" scores the whole new list (the marked item counts: that is
what the user sees); "residual" drops the items given feedback from the list and from the
judgments (the usual way to measure what feedback does for the rest), over the queries with
a judged-relevant document left.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.retrieval import embed_corpus, load, ndcg_at_10, news  # noqa: E402


def mrr_at_10(ranked: list[str], relevant: dict[str, int]) -> float:
    for i, d in enumerate(ranked[:10]):
        if d in relevant:
            return 1 / (i + 1)
    return 0.0


async def run(args: argparse.Namespace) -> None:
    import asyncpg
    from sqlalchemy import delete, insert, text

    from app.bookmarks.models import Bookmark, BookmarkVector
    from app.broker import create_redis
    from app.cli import run_migrations
    from app.config import Settings
    from app.db import bind_user, create_engine, create_sessionmaker
    from app.embedded import EmbeddedPostgres, EmbeddedValkey
    from app.embeddings.service import Embedder, bookmark_text
    from app.feedback.models import Feedback
    from app.projects.models import Project
    from app.recommendations import service as recs
    from app.search import service as search
    from app.users.models import User

    corpus, queries, qrels = load()
    tmp = Path(tempfile.mkdtemp(prefix="fuze-recommend-"))
    database_url = os.environ.get("FUZE_DATABASE_URL")
    pg = vk = None
    if not database_url:
        pg = EmbeddedPostgres(tmp / "pg")
        database_url = pg.start()
    vk = EmbeddedValkey(tmp / "vk")
    redis_url = vk.start()
    await asyncio.to_thread(run_migrations, database_url)
    # The tables' owner: the benchmark writes a user's rows itself (row-level security would
    # refuse the app's role rows of a user it does not work for).
    settings = Settings(database_url=database_url, redis_url=redis_url, database_role="")
    engine = create_engine(settings)
    maker = create_sessionmaker(engine)
    # Rows are loaded as the tables' owner (row triggers off); recommendations are measured as
    # the app runs them, under row-level security (bound to the user).
    owner_engine = create_engine(settings.model_copy(update={"database_role": ""}))
    owner = create_sessionmaker(owner_engine)
    redis = create_redis(settings)
    try:
        texts = [bookmark_text(d["title"], None, d["text"]) for d in corpus]
        vectors = embed_corpus(texts)
        user_id = uuid.uuid4()
        started = time.perf_counter()
        async with owner() as session:
            session.add(
                User(id=user_id, username=f"rec{user_id.hex[:8]}",
                     email=f"{user_id.hex}@bench.invalid", password_hash="-")
            )  # fmt: skip
            await session.commit()
        # Rows in bulk with row triggers off, then the search statistics and postings in one
        # statement (the same formulas the triggers use).
        async with owner() as session:
            await session.execute(text("SET session_replication_role = replica"))
            rows = [
                {
                    "id": uuid.uuid5(user_id, d["_id"]), "user_id": user_id,
                    "url": f"https://scifact.invalid/{d['_id']}",
                    "normalized_url": f"https://scifact.invalid/{d['_id']}",
                    "page_title": d["title"], "text": d["text"], "status": "ready",
                }
                for d in corpus
            ]  # fmt: skip
            vecs = [
                {"bookmark_id": r["id"], "user_id": user_id, "embedding": vectors[i].tolist()}
                for i, r in enumerate(rows)
            ]
            for i in range(0, len(rows), 500):
                await session.execute(insert(Bookmark), rows[i : i + 500])
                await session.execute(insert(BookmarkVector), vecs[i : i + 500])
            await session.commit()
        conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
        await conn.execute("SELECT fuze_rebuild_search($1)", user_id)
        await conn.execute("ANALYZE")
        await conn.close()
        print(f"loaded {len(corpus)} documents in {time.perf_counter() - started:.0f} s")
        doc_of = {uuid.uuid5(user_id, d["_id"]): d["_id"] for d in corpus}
        bid_of = {v: k for k, v in doc_of.items()}

        embedder = Embedder(batch_size=64)
        embedder.load()
        qids = sorted(queries)[: args.queries]
        qvecs = embedder.encode_sync([queries[q] for q in qids])
        async with maker() as session:
            await bind_user(session, user_id)
            user = await session.get(User, user_id)
            assert user is not None
            projects = {}
            for qid, qvec in zip(qids, qvecs, strict=True):
                p = Project(user_id=user_id, title=queries[qid][:200], technologies=[],
                            embedding=qvec.tolist())  # fmt: skip
                session.add(p)
                projects[qid] = p
            await session.commit()
            project_ids = {q: p.id for q, p in projects.items()}

        def ranked_docs(found: list) -> list[str]:
            return [doc_of[c.bookmark_id] for c in found]

        sums: dict[str, list[float]] = {}

        def add(name: str, ranked: list[str], rel: dict[str, int]) -> None:
            sums.setdefault(f"{name} nDCG@10", []).append(ndcg_at_10(ranked, rel))
            sums.setdefault(f"{name} MRR@10", []).append(mrr_at_10(ranked, rel))

        uncached: list[float] = []
        # Odd-id queries; confident items in their first ten; judged relevant; none confident.
        floor_counts = [0, 0, 0, 0]
        for qid in qids:
            rel = qrels[qid]
            async with maker() as session:
                await bind_user(session, user_id)
                user = await session.get(User, user_id)
                hits, _ = await search.hybrid(
                    session, user_id, queries[qid], search.Filters(),
                    embedder=embedder, redis=redis,
                )  # fmt: skip
                hybrid = [doc_of[h.bookmark_id] for h in hits]
                add("hybrid search", hybrid, rel)
                t = time.perf_counter()
                ctx = await recs.project_context(session, user, project_ids[qid], embedder, redis)
                found = await recs.recommend(session, user, ctx, limit=100)
                before = ranked_docs(found)
                uncached.append((time.perf_counter() - t) * 1000)
                add("recommender", before, rel)
                if int(qid) % 2 == 1:  # held out from the floor's choice (bench/retrieval.py)
                    plain = ranked_docs(
                        await recs.recommend(session, user, ctx, limit=100, floor=False)
                    )
                    add("recommender, odd ids, without the floor", plain, rel)
                    add("recommender, odd ids, with the floor", before, rel)
                    sure = [doc_of[c.bookmark_id] for c in found[:10] if not c.weak]
                    floor_counts[0] += 1
                    floor_counts[1] += len(sure)
                    floor_counts[2] += sum(d in rel for d in sure)
                    floor_counts[3] += not sure
                for variant in args.variants.split(",") if args.variants else []:
                    lam, floor = (float(x) for x in variant.split(":"))
                    saved = recs.MMR_LAMBDA, recs.MMR_FLOOR
                    recs.MMR_LAMBDA, recs.MMR_FLOOR = lam, floor
                    try:
                        ranked = ranked_docs(await recs.recommend(session, user, ctx, limit=100))
                    finally:
                        recs.MMR_LAMBDA, recs.MMR_FLOOR = saved
                    add(f"recommender, MMR lambda {lam} floor {floor}", ranked, rel)
                # Simulated feedback.
                first_rel = next((i for i, d in enumerate(before[:10]) if d in rel), 10)
                irrelevant = [d for d in before[:first_rel] if d not in rel][:3]
                liked = next((d for d in before if d in rel), next(iter(rel)))
                for d, signal in [(d, "irrelevant") for d in irrelevant] + [(liked, "relevant")]:
                    session.add(Feedback(
                        user_id=user_id, bookmark_id=bid_of[d], context_type="project",
                        context_key=str(project_ids[qid]), signal=signal,
                    ))  # fmt: skip
                await session.flush()
                after = ranked_docs(await recs.recommend(session, user, ctx, limit=100))
                add("recommender + feedback (all)", after, rel)
                rest = {d: g for d, g in rel.items() if d != liked}
                if rest:
                    given = {liked, *irrelevant}
                    add("hybrid search (residual)", [d for d in hybrid if d not in given], rest)
                    add("recommender (residual)", [d for d in before if d not in given], rest)
                    add(
                        "recommender + feedback (residual)",
                        [d for d in after if d not in given],
                        rest,
                    )
                await session.execute(delete(Feedback).where(Feedback.user_id == user_id))
                await session.rollback()

        print(f"\nSciFact train queries as projects: {len(qids)}, documents: {len(corpus)}")
        for name, values in sums.items():
            print(f"  {name:42} {statistics.mean(values):.3f}  (n={len(values)})")
        n, listed, relevant, empty = floor_counts
        if n:
            print(
                f"\nthe relevance floor, {n} odd-id projects: {listed / n:.2f} confident items in"
                f" the first ten, precision {relevant / max(listed, 1):.3f}, {empty} with none"
            )
        # Off-topic: news headlines as free-text contexts against the SciFact library.
        headlines = [title for _, title, _ in news()]
        none = 0
        async with maker() as session:
            await bind_user(session, user_id)
            user = await session.get(User, user_id)
            assert user is not None
            for headline in headlines:
                ctx = await recs.text_context(headline, [], embedder, redis)
                found = await recs.recommend(session, user, ctx, limit=10)
                none += all(c.weak for c in found)
            for nonsense in ("zzqx blorf", "asdf qwerty"):
                ctx = await recs.text_context(nonsense, [], embedder, redis)
                found = await recs.recommend(session, user, ctx, limit=10)
                sure = sum(not c.weak for c in found)
                print(f"nonsense context {nonsense!r}: {sure} confident of {len(found)}")
        print(
            f"off-topic: {none / len(headlines):.3f} of {len(headlines)} news headlines get no"
            " confident recommendation from the SciFact library"
        )
        q = statistics.quantiles(uncached, n=100)
        print(
            f"\nrecommend() uncached, in process: p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms "
            f"({len(corpus)} bookmarks; limit 100)"
        )
    finally:
        await redis.aclose()
        await engine.dispose()
        await owner_engine.dispose()
        if vk is not None:
            vk.stop()
        if pg is not None:
            pg.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument(
        "--variants", default="", help="other MMR settings to score, e.g. 1.0:0,0.7:0.5"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
