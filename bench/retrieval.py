"""Search quality on BEIR SciFact (../shared/data/retrieval): nDCG@10 and Recall@100 for
keyword, semantic and hybrid search, run through the search service on real bookmarks.

    .venv/bin/python bench/retrieval.py                # all queries
    .venv/bin/python bench/retrieval.py --sweep        # the meaning weight: chosen on even query
                                                       # ids, reported on odd ones

The 5,183 abstracts become one user's bookmarks (title -> page title, abstract -> text, the
embedding of the same text a saved page gets); the first run embeds them (a few minutes on 2
cores) and caches the vectors in bench/.cache/. Embedded PostgreSQL is started in a temporary
folder unless FUZE_DATABASE_URL is set.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "retrieval"
CACHE = ROOT / "bench" / ".cache"


def load() -> tuple[list[dict], dict[str, str], dict[str, dict[str, int]]]:
    corpus = [json.loads(line) for line in (DATA / "corpus.jsonl").open()]
    queries = {}
    for line in (DATA / "queries.train.jsonl").open():
        q = json.loads(line)
        queries[q["_id"]] = q["text"]
    qrels: dict[str, dict[str, int]] = {}
    with (DATA / "qrels.train.tsv").open() as f:
        next(f)
        for line in f:
            qid, did, score = line.strip().split("\t")
            if int(score) > 0:
                qrels.setdefault(qid, {})[did] = int(score)
    return corpus, {q: t for q, t in queries.items() if q in qrels}, qrels


def ndcg_at_10(ranked: list[str], relevant: dict[str, int]) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:10]) if d in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(10, len(relevant))))
    return dcg / ideal if ideal else 0.0


def recall_at_100(ranked: list[str], relevant: dict[str, int]) -> float:
    return len(set(ranked[:100]) & set(relevant)) / len(relevant)


def embed_corpus(texts: list[str]) -> np.ndarray:
    from app.embeddings.service import Embedder

    key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    path = CACHE / f"scifact-{key}.npy"
    if path.exists():
        return np.load(path)
    embedder = Embedder(batch_size=64)
    embedder.load()
    started = time.perf_counter()
    vectors = np.vstack(
        [embedder.encode_sync(texts[i : i + 256]) for i in range(0, len(texts), 256)]
    )
    print(f"embedded {len(texts)} documents in {time.perf_counter() - started:.0f} s", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


async def run(args: argparse.Namespace) -> None:
    from sqlalchemy import insert

    from app.bookmarks.models import Bookmark, BookmarkVector
    from app.cli import run_migrations
    from app.config import Settings
    from app.db import create_engine, create_sessionmaker
    from app.embedded import EmbeddedPostgres
    from app.embeddings.service import Embedder, bookmark_text
    from app.search import service
    from app.users.models import User

    corpus, queries, qrels = load()
    database_url = os.environ.get("FUZE_DATABASE_URL")
    pg = None
    if not database_url:
        pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="fuze-retrieval-")))
        database_url = pg.start()
    await asyncio.to_thread(run_migrations, database_url)
    # The tables' owner: it loads the corpus as rows itself (row-level security would refuse
    # the app's role rows of a user it does not work for).
    engine = create_engine(Settings(database_url=database_url, database_role=""))
    maker = create_sessionmaker(engine)
    try:
        texts = [bookmark_text(d["title"], None, d["text"]) for d in corpus]
        vectors = embed_corpus(texts)
        user_id = uuid.uuid4()
        async with maker() as session:
            session.add(
                User(
                    id=user_id,
                    username=f"bench{user_id.hex[:8]}",
                    email=f"{user_id.hex}@bench.invalid",
                    password_hash="-",
                )
            )
            await session.flush()
            rows = [
                {
                    "id": uuid.uuid5(user_id, d["_id"]),
                    "user_id": user_id,
                    "url": f"https://scifact.invalid/{d['_id']}",
                    "normalized_url": f"https://scifact.invalid/{d['_id']}",
                    "page_title": d["title"],
                    "text": d["text"],
                    "status": "ready",
                }
                for d in corpus
            ]
            vecs = [
                {"bookmark_id": r["id"], "user_id": user_id, "embedding": vectors[i].tolist()}
                for i, r in enumerate(rows)
            ]
            for i in range(0, len(rows), 500):
                await session.execute(insert(Bookmark), rows[i : i + 500])
                await session.execute(insert(BookmarkVector), vecs[i : i + 500])
            await session.commit()
        doc_of = {uuid.uuid5(user_id, d["_id"]): d["_id"] for d in corpus}

        # The queries through the API's query encoder (ONNX Runtime), as a search embeds them.
        embedder = Embedder(batch_size=64, fast_queries=True, cache_dir=CACHE)
        embedder.load()
        qids = sorted(queries)
        qvecs = embedder.encode_sync([queries[q] for q in qids])
        # Per query: the keyword matches, the semantic candidates as (id, similarity), and
        # the looked-up similarity of keyword-only pages: what service.hybrid() combines.
        runs: dict[str, tuple[list, list, list]] = {}
        scored: dict[str, dict] = {}
        started = time.perf_counter()
        for qid, qvec in zip(qids, qvecs, strict=True):
            async with maker() as session:
                matches = await service.keyword_matches(
                    session, user_id, queries[qid], service.Filters()
                )
                found, extra = await service.meaning(
                    session,
                    user_id,
                    qvec,
                    service.Filters(),
                    also=[m.bookmark_id for m in matches],
                )
                sem = [(b, 1 - d) for b, d in found]
                await session.rollback()
            runs[qid] = (sem, matches, sorted(extra.items(), key=lambda kv: -kv[1]))
            scored[qid] = {
                "semantic": [(doc_of[b], s) for b, s in sem],
                "keyword": [(doc_of[m.bookmark_id], m.strong, m.score) for m in matches],
            }
        per_query_ms = (time.perf_counter() - started) / len(qids) * 1000
        if args.dump:
            Path(args.dump).write_text(json.dumps({"runs": scored, "qrels": qrels}))

        def evaluate(subset: list[str], weight: float) -> dict[str, tuple[float, float]]:
            out = {}
            for name in ("keyword", "semantic", "hybrid"):
                n = r = 0.0
                for qid in subset:
                    sem, matches, extra = runs[qid]
                    if name == "keyword":
                        ranked = [doc_of[m.bookmark_id] for m in matches]
                    elif name == "semantic":
                        ranked = [doc_of[b] for b, _ in sem]
                    else:
                        hits = service.combine(sem + extra, matches, weight, ranked=len(sem))
                        ranked = [doc_of[h.bookmark_id] for h in hits]
                    n += ndcg_at_10(ranked, qrels[qid])
                    r += recall_at_100(ranked, qrels[qid])
                out[name] = (n / len(subset), r / len(subset))
            return out

        weight = service.MEANING_WEIGHT
        if args.sweep:
            tune = [q for q in qids if int(q) % 2 == 0]
            held = [q for q in qids if int(q) % 2 == 1]
            grid = [round(0.3 + 0.05 * i, 2) for i in range(12)]
            best = max(grid, key=lambda w: evaluate(tune, w)["hybrid"][0])
            print(f"best meaning weight on {len(tune)} even-id queries: {best}")
            for label, subset in (("held-out odd-id", held), ("all", qids)):
                res = evaluate(subset, best)
                print(
                    f"{label} queries ({len(subset)}): "
                    + ", ".join(f"{k} nDCG@10 {v[0]:.3f}" for k, v in res.items())
                )
        res = evaluate(qids, weight)
        print(
            f"SciFact train queries: {len(qids)}, documents: {len(corpus)}; "
            f"hybrid = {weight} * similarity + {1 - weight:.1f} * BM25/max"
        )
        print(f"{'mode':10} {'nDCG@10':>8} {'Recall@100':>11}")
        for name, (n, r) in res.items():
            print(f"{name:10} {n:8.3f} {r:11.3f}")
        print(
            f"candidate retrieval: {per_query_ms:.1f} ms per query (keyword + semantic, 100 each,"
            " and the similarity of keyword-only pages)"
        )
    finally:
        await engine.dispose()
        if pg is not None:
            pg.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--dump", help="write each query's scored candidates to this JSON file")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
