"""Search quality on BEIR SciFact (../shared/data/retrieval): nDCG@10 and Recall@100 for
keyword, semantic and hybrid search, run through the search service on real bookmarks.

    .venv/bin/python bench/retrieval.py                # all queries
    .venv/bin/python bench/retrieval.py --sweep        # the meaning weight: chosen on even query
                                                       # ids, reported on odd ones
    .venv/bin/python bench/retrieval.py --floor        # the relevance floor: chosen on even ids,
                                                       # reported on odd ones, and off-topic
                                                       # queries (news against SciFact and back)

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
import re
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


def embed_corpus(texts: list[str], name: str = "scifact") -> np.ndarray:
    from app.embeddings.service import Embedder

    key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    path = CACHE / f"{name}-{key}.npy"
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


async def candidates(
    maker, user_id: uuid.UUID, q: str, qvec: np.ndarray
) -> tuple[list, list, list]:  # type: ignore[no-untyped-def]
    """What service.hybrid() combines for one query: the semantic candidates as (id,
    similarity), the keyword matches, and the looked-up similarity of keyword-only pages."""
    from app.search import service

    async with maker() as session:
        matches = await service.keyword_matches(session, user_id, q, service.Filters())
        found, extra = await service.meaning(
            session, user_id, qvec, service.Filters(), also=[m.bookmark_id for m in matches]
        )
        await session.rollback()
    sem = [(b, 1 - d) for b, d in found]
    return sem, matches, sorted(extra.items(), key=lambda kv: -kv[1])


async def add_library(maker, docs: list[tuple[str, str, str]], vectors: np.ndarray) -> uuid.UUID:  # type: ignore[no-untyped-def]
    """A new user whose bookmarks are `docs` (key, title, text) with these vectors, loaded
    with the triggers on (search statistics and postings as a saved page gets them)."""
    from sqlalchemy import insert

    from app.bookmarks.models import Bookmark, BookmarkVector
    from app.users.models import User

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
                "id": uuid.uuid5(user_id, key),
                "user_id": user_id,
                "url": f"https://bench.invalid/{key}",
                "normalized_url": f"https://bench.invalid/{key}",
                "page_title": title,
                "text": body,
                "status": "ready",
            }
            for key, title, body in docs
        ]
        vecs = [
            {"bookmark_id": r["id"], "user_id": user_id, "embedding": vectors[i].tolist()}
            for i, r in enumerate(rows)
        ]
        for i in range(0, len(rows), 500):
            await session.execute(insert(Bookmark), rows[i : i + 500])
            await session.execute(insert(BookmarkVector), vecs[i : i + 500])
        await session.commit()
    return user_id


def news() -> list[tuple[str, str, str]]:
    """The extraction benchmark's news articles as (key, title, text): the title from the
    address's last path segment (the set has no titles), the text the article's body."""
    truth = json.loads(
        (ROOT.parent / "shared" / "data" / "extraction" / "ground-truth.json").read_text()
    )
    out = []
    for key, page in sorted(truth.items()):
        slug = [p for p in page["url"].split("?")[0].rstrip("/").split("/") if p][-1]
        words = [w for w in re.split(r"[-_.]+", slug) if w.isalpha() and w not in ("html", "htm")]
        out.append((key, " ".join(words), page["articleBody"]))
    return out


# What the relevance floor must keep: the share of the judged-relevant pages among the first
# ten results that stay above it (the rest are shown apart, or dropped from recommendations),
# and the share of off-topic queries that must show no confident match.
RECALL_KEPT = 0.9
QUIET = 0.9
# People type shorter queries than SciFact's claims, and a short query is less similar to the
# page it wants ("how to bake bread with wild yeast" against a sourdough page): each claim is
# also asked as its first SHORT_WORDS words that are not stop words.
SHORT_WORDS = 4
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "for",
        "to",
        "and",
        "or",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "with",
        "by",
        "as",
        "at",
        "from",
        "that",
        "this",
        "it",
        "its",
        "into",
        "than",
        "not",
        "no",
        "can",
        "may",
        "do",
        "does",
    ]
)


def short_query(text: str, words: int = SHORT_WORDS) -> str:
    """The claim cut after its first `words` words that are not stop words."""
    out: list[str] = []
    content = 0
    for word in re.findall(r"\w+", text):
        out.append(word)
        content += word.lower() not in _STOPWORDS
        if content >= words:
            break
    return " ".join(out)


async def floor_report(args, maker, runs, doc_of, qrels, qids, embedder, user_id) -> None:  # type: ignore[no-untyped-def]
    """The relevance floor (service.RELEVANCE_FLOOR and KEYWORD_MARGIN), chosen on the even
    query ids and the even off-topic queries: of the pairs that keep RECALL_KEPT of the
    judged-relevant pages of the first ten results confident for the claims as written and
    leave QUIET of the off-topic queries without a confident match, the one that keeps most
    for the short forms of the claims (then the most precise); then, on the odd ones, nDCG@10
    with and without it, the precision of what is shown above it, and off-topic queries."""
    from app.embeddings.service import bookmark_text
    from app.search import service

    def listing(run: tuple[list, list, list], floor: bool = True) -> list:
        sem, matches, extra = run
        return service.combine(sem + extra, matches, ranked=len(sem), floor=floor)

    tune = [q for q in qids if int(q) % 2 == 0]
    held = [q for q in qids if int(q) % 2 == 1]

    async def runs_of(owner: uuid.UUID, texts: list[str]) -> list[tuple[list, list, list]]:
        vecs = embedder.encode_sync(texts)
        return [await candidates(maker, owner, q, v) for q, v in zip(texts, vecs, strict=True)]

    shorts = {q: short_query(args.query_texts[q]) for q in qids}
    short_runs = dict(zip(qids, await runs_of(user_id, [shorts[q] for q in qids]), strict=True))

    # The similarity of what is listed first, to see the distributions.
    pct = lambda xs, p: xs[min(len(xs) - 1, int(p * len(xs)))]  # noqa: E731
    print(f"similarity of the first ten results, {len(tune)} even-id queries:")
    for label, found in (("claims", runs), (f"first {SHORT_WORDS} words", short_runs)):
        rel: list[float] = []
        irr: list[float] = []
        for qid in tune:
            sem, _, extra = found[qid]
            sims = dict(sem + extra)
            for h in listing(found[qid], floor=False)[:10]:
                (rel if doc_of[h.bookmark_id] in qrels[qid] else irr).append(sims[h.bookmark_id])
        rel.sort()
        irr.sort()
        for name, xs in (("judged relevant", rel), ("not judged relevant", irr)):
            print(
                f"  {label:14} {name:20} n={len(xs):5}  p10 {pct(xs, 0.1):.3f}"
                f"  p25 {pct(xs, 0.25):.3f}  median {pct(xs, 0.5):.3f}  p75 {pct(xs, 0.75):.3f}"
                f"  p90 {pct(xs, 0.9):.3f}"
            )

    # Off-topic queries: SciFact claims (as written and short) against a library of news
    # articles, news headlines against the SciFact library; and nonsense. Even ones choose,
    # odd ones report.
    articles = news()
    news_vectors = embed_corpus([bookmark_text(t, None, b) for _, t, b in articles], "news")
    news_user = await add_library(maker, articles, news_vectors)
    off: dict[str, dict[str, list]] = {}
    for label, subset in (("even", tune), ("odd", held)):
        off[label] = {
            "claims/news": await runs_of(news_user, [args.query_texts[q] for q in subset]),
            "short claims/news": await runs_of(news_user, [shorts[q] for q in subset]),
            "headlines/SciFact": await runs_of(
                user_id, [t for i, (_, t, _) in enumerate(articles) if i % 2 == (label == "odd")]
            ),
        }
    nonsense = {
        (q, label): (await runs_of(owner, [q]))[0]
        for q in ("zzqx blorf", "asdf qwerty")
        for label, owner in (("SciFact", user_id), ("news", news_user))
    }

    def measure(subset: list[str], found: dict[str, tuple[list, list, list]]) -> dict[str, float]:
        n = len(subset)
        judged = sum(len(qrels[q]) for q in subset)
        before = after = 0.0
        shown = hit = covered = listed = anything = 0
        for qid in subset:
            plain = [doc_of[h.bookmark_id] for h in listing(found[qid], floor=False)]
            floored = listing(found[qid])
            before += ndcg_at_10(plain, qrels[qid])
            after += ndcg_at_10([doc_of[h.bookmark_id] for h in floored], qrels[qid])
            sure = [doc_of[h.bookmark_id] for h in floored[:10] if not h.weak]
            shown += len(sure)
            hit += sum(d in qrels[qid] for d in sure)
            covered += sum(d in sure for d in qrels[qid])
            listed += sum(d in plain[:10] for d in qrels[qid])
            anything += bool(sure)
        precision, recall = hit / max(shown, 1), covered / judged
        return {
            "kept": covered / max(listed, 1),
            "before": before / n,
            "after": after / n,
            "shown": shown / n,
            "precision": precision,
            "recall": recall,
            "anything": anything / n,
        }

    def quiet(found: list[tuple[list, list, list]]) -> float:
        return sum(all(h.weak for h in listing(r)) for r in found) / len(found)

    chosen = service.RELEVANCE_FLOOR, service.KEYWORD_MARGIN
    grid = [(round(0.3 + 0.025 * i, 3), m) for i in range(13) for m in (0.0, 0.05, 0.1, 0.15, 1.0)]
    print(
        "floor margin | even: kept claims/short, precision claims/short, quiet (min of three)"
        " | odd: nDCG@10, kept claims/short, precision claims/short"
        " | odd off-topic quiet: claims/news, short/news, headlines/SciFact"
    )
    scores = {}
    for f, m in grid:
        service.RELEVANCE_FLOOR, service.KEYWORD_MARGIN = f, m
        even, even_short = measure(tune, runs), measure(tune, short_runs)
        odd, odd_short = measure(held, runs), measure(held, short_runs)
        calm = min(quiet(found) for found in off["even"].values())
        ok = even["kept"] >= RECALL_KEPT and calm >= QUIET
        scores[(f, m)] = (ok, even_short["kept"], even["precision"])
        print(
            f"{f:.3f} {m:4.2f} | {even['kept']:.3f}/{even_short['kept']:.3f}"
            f" {even['precision']:.3f}/{even_short['precision']:.3f} {calm:.3f}"
            f" | {odd['after']:.3f} {odd['kept']:.3f}/{odd_short['kept']:.3f}"
            f" {odd['precision']:.3f}/{odd_short['precision']:.3f}"
            f" | {' '.join(f'{quiet(found):.3f}' for found in off['odd'].values())}"
        )
    best = max(grid, key=lambda fm: scores[fm])
    print(
        f"chosen on even ids: floor {best[0]}, keyword margin {best[1]}"
        f" (meets both bounds: {scores[best][0]}); in use: {chosen}"
    )
    service.RELEVANCE_FLOOR, service.KEYWORD_MARGIN = chosen
    for label, subset in (("held-out odd-id", held), ("even-id", tune)):
        for form, found in (("claims", runs), (f"first {SHORT_WORDS} words", short_runs)):
            r = measure(subset, found)
            print(
                f"{label} {form} ({len(subset)}): nDCG@10 {r['before']:.3f} -> {r['after']:.3f};"
                f" above the floor in the first ten: {r['shown']:.2f} a query, precision"
                f" {r['precision']:.3f}, {r['recall']:.3f} of the judged-relevant pages"
                f" ({r['kept']:.3f} of those in the first ten); {r['anything']:.3f} of the"
                " queries show a confident result"
            )
    for name, found in off["odd"].items():
        print(
            f"off-topic {name} (odd, {len(found)} queries): {quiet(found):.3f} show no"
            " confident match"
        )
    for (q, label), run in nonsense.items():
        found = listing(run)
        best_sim = max((s for _, s in run[0]), default=0.0)
        print(
            f"nonsense query {q!r} against the {label} library: "
            f"{sum(not h.weak for h in found)} confident of {len(found)}"
            f" (best similarity {best_sim:.3f})"
        )


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
            sem, matches, extra = await candidates(maker, user_id, queries[qid], qvec)
            runs[qid] = (sem, matches, extra)
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
                        hits = service.combine(
                            sem + extra, matches, weight, ranked=len(sem), floor=False
                        )
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
        if args.floor:
            args.query_texts = queries
            await floor_report(args, maker, runs, doc_of, qrels, qids, embedder, user_id)
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
    parser.add_argument(
        "--floor", action="store_true", help="calibrate and check the relevance floor"
    )
    parser.add_argument("--dump", help="write each query's scored candidates to this JSON file")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
