"""Hybrid search: meaning (pgvector HNSW over the user's partition of bookmark_vectors) and
keywords (BM25 read from the per-user postings; web-search syntax and narrow filters through
the full-text index), fused by a convex combination: MEANING_WEIGHT x cosine similarity +
(1 - MEANING_WEIGHT) x BM25 / the query's best BM25, with the similarity of keyword-only
pages looked up exactly. The hits ranked below every confident one (confident(): the
relevance floor) are weak, and the web app lists them apart; the ranking itself is unchanged.
Plain queries without filters run as fixed statements on
the read pool (keyword_fast, then _FUSED); the others through the ORM session and combine(),
which ranks alike. Every query is filtered by the user first."""

from __future__ import annotations

import asyncio
import functools
import html
import logging
import math
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Uuid,
    any_,
    bindparam,
    column,
    func,
    literal,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from app.analysis.models import ContentAnalysis
from app.bookmarks.models import Bookmark, BookmarkTag, BookmarkVector, Tag
from app.bookmarks.service import Highlight, Out, highlight_args, out_of_row, outs_of, outs_sql
from app.db import HNSW_EF_SEARCH, ReadPool
from app.embeddings.service import Embedder, embed_cached
from app.lists.models import BookmarkListItem

log = logging.getLogger("fuze.search")

CANDIDATES = 100
# Hybrid score = MEANING_WEIGHT * cosine similarity + (1 - MEANING_WEIGHT) * BM25 / the best
# BM25 of the query, with the similarity of keyword-only pages computed exactly. On SciFact
# this beat weighted reciprocal rank fusion (0.733 against 0.702 nDCG@10) because it keeps
# how far apart two pages are, not only their order; the weight was chosen on the even query
# ids and holds on the odd ones (bench/retrieval.py --sweep).
MEANING_WEIGHT = 0.7
# The relevance floor: a hit is confident when its cosine similarity to the query reaches
# RELEVANCE_FLOOR (the one score that means the same in every library: BM25 over the
# query's best is relative, and the best match of any query gets all of it), or, when it has
# at least half of the query's words, RELEVANCE_FLOOR - KEYWORD_MARGIN. Without a vector
# (keyword mode, a page not embedded yet) its words decide. Both chosen on SciFact's even
# query ids, asked as written and cut to their first four words (people type short queries,
# and a short query is less similar to the page it wants): of the pairs that keep 90% of the
# judged-relevant pages of the first ten confident for the claims and leave 90% of off-topic
# queries without a confident match, the one that keeps most for the short queries; reported
# on the odd ids (bench/retrieval.py --floor, docs/benchmarks.md).
RELEVANCE_FLOOR = 0.425
KEYWORD_MARGIN = 0.15
_START, _STOP = "\x02", "\x03"
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass
class Filters:
    tag: str | None = None
    status: str | None = None
    saved_after: datetime | None = None
    saved_before: datetime | None = None
    content_type: str | None = None
    # Only the bookmarks in these lists (app/lists: a list and, when asked, its sub-lists).
    list_ids: tuple[uuid.UUID, ...] | None = None


class Match(NamedTuple):
    """A keyword match: `strong` when it has at least half of the words; `score` is BM25 (or
    ts_rank for web-search syntax), comparable within one query only."""

    bookmark_id: uuid.UUID
    strong: bool
    score: float


@dataclass
class Hit:
    bookmark_id: uuid.UUID
    score: float
    semantic_rank: int | None = None
    keyword_rank: int | None = None
    weak: bool = False  # under the relevance floor


def confident(similarity: float | None, strong: bool) -> bool:
    """Whether a hit clears the relevance floor (see RELEVANCE_FLOOR)."""
    if similarity is None:
        return strong
    return similarity >= RELEVANCE_FLOOR - (KEYWORD_MARGIN if strong else 0.0)


def mark_weak(hits: list[Hit], sure: list[bool]) -> None:
    """Every hit scored below the lowest confident one is weak (all are, with none)."""
    lowest = min((h.score for h, ok in zip(hits, sure, strict=True) if ok), default=math.inf)
    for hit in hits:
        hit.weak = hit.score < lowest


def _conditions(user_id: uuid.UUID, filters: Filters) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [Bookmark.user_id == user_id]
    if filters.status:
        conds.append(Bookmark.status == filters.status)
    if filters.saved_after:
        conds.append(Bookmark.saved_at >= filters.saved_after)
    if filters.saved_before:
        conds.append(Bookmark.saved_at < filters.saved_before)
    if filters.content_type:
        conds.append(
            Bookmark.id.in_(
                select(ContentAnalysis.bookmark_id).where(
                    ContentAnalysis.user_id == user_id,
                    ContentAnalysis.content_type == filters.content_type,
                )
            )
        )
    if filters.list_ids is not None:
        conds.append(
            Bookmark.id.in_(
                select(BookmarkListItem.bookmark_id).where(
                    BookmarkListItem.list_id.in_(filters.list_ids)
                )
            )
        )
    if filters.tag:
        conds.append(
            Bookmark.id.in_(
                select(BookmarkTag.bookmark_id)
                .join(Tag, Tag.id == BookmarkTag.tag_id)
                .where(Tag.user_id == user_id, func.lower(Tag.name) == filters.tag.strip().lower())
            )
        )
    return conds


def _uses_syntax(q: str) -> bool:
    return '"' in q or re.search(r"(^|\s)-\w|\sor\s", q, re.IGNORECASE) is not None


def ts_text(q: str, any_word: bool = False) -> tuple[str, bool] | None:
    """What people type as a tsquery's text and whether it is web-search syntax (quoted
    phrases, `or`, `-word`: websearch_to_tsquery's); otherwise to_tsquery's text, in which
    every word must match (or, with `any_word`, any of them) and the last one may be a prefix
    (search as you type). None when there is no word."""
    if _uses_syntax(q):
        return q, True
    words = _WORD.findall(q.lower())[:32]
    if not words:
        return None
    terms = [f"{w}:*" if i == len(words) - 1 and len(w) >= 2 else w for i, w in enumerate(words)]
    # Words are \w+ only, so nothing here can break to_tsquery's syntax.
    return (" | " if any_word else " & ").join(terms), False


def ts_query(q: str, any_word: bool = False) -> Any | None:
    """ts_text() as a tsquery expression."""
    found = ts_text(q, any_word)
    if found is None:
        return None
    body, websearch = found
    return (func.websearch_to_tsquery if websearch else func.to_tsquery)("english", body)


async def keyword_candidates(
    session: AsyncSession, user_id: uuid.UUID, q: str, filters: Filters, limit: int = CANDIDATES
) -> list[uuid.UUID]:
    return [m.bookmark_id for m in await keyword_matches(session, user_id, q, filters, limit)]


BM25_K1, BM25_B = 1.2, 0.75
# BM25 re-ranks the best pages by ts_rank among those with some of the words; its cost grows
# with this pool (measured on SciFact: see bench/retrieval.py and bench/search_latency.py).
BM25_POOL = 300
ALL_WORDS_ENOUGH = 20
# Field weights inside BM25's term frequency: a word in the title counts three times.
BM25_SQL = text(
    """
    WITH q AS (
        SELECT DISTINCT unnest(tsvector_to_array(to_tsvector('english', :q))) AS lexeme
    ), stats AS (
        SELECT ndocs, total_length::float8 / greatest(ndocs, 1) AS avgdl
        FROM search_stats WHERE user_id = :uid
    ), idf AS (
        SELECT q.lexeme,
               ln(1 + (stats.ndocs - coalesce(t.ndoc, 0) + 0.5)::float8 / (coalesce(t.ndoc, 0) + 0.5)) AS idf
        FROM q CROSS JOIN stats
        LEFT JOIN search_terms t ON t.user_id = :uid AND t.lexeme = q.lexeme
    )
    SELECT b.id,
           sum(idf.idf * tf.f * (:k1 + 1)
               / (tf.f + :k1 * (1 - :b + :b * length(b.search_vector) / greatest(stats.avgdl, 1)))) AS score,
           count(*) AS matched,
           (SELECT count(*) FROM q) AS wanted
    FROM bookmarks b
    CROSS JOIN stats
    CROSS JOIN LATERAL (
        SELECT u.lexeme,
               sum(CASE w WHEN 'A' THEN 3 WHEN 'B' THEN 2 ELSE 1 END)::float8 AS f
        FROM unnest(b.search_vector) u, unnest(u.weights) w
        GROUP BY u.lexeme
    ) tf
    JOIN idf ON idf.lexeme = tf.lexeme
    WHERE b.id = ANY(:ids) AND b.user_id = :uid
    GROUP BY b.id
    ORDER BY score DESC, b.id
    LIMIT :limit
    """
)


# How many of the best pages of each query word BM25 reads from the postings (see the
# migration "search: ... per-document term impacts"). A page outside every word's best
# POSTINGS_PER_WORD is not found by keywords (meaning search still sees it); bench/retrieval.py
# measures what this costs in quality, bench/search_latency.py what it saves in time.
POSTINGS_PER_WORD = 1000
# The last word may be a prefix (search as you type): it also stands for its most frequent
# completions among the user's words.
PREFIX_COMPLETIONS = 8
# ...each read to its best PREFIX_POSTINGS pages only: a completion is a guess at what is being
# typed, and with every completion's best 1,000 pages a prefix of three to five letters read
# up to nine times the postings of a whole word (100k pages, queries of one to four words
# ending in such a prefix: keywords p50 9.6-12.5 ms, p95 22-34 ms; with 200 each p50 5.4 ms,
# p95 10 ms). SciFact's nDCG@10 and Recall@100 (bench/retrieval.py) are unchanged.
PREFIX_POSTINGS = 200
_POSTINGS = """
    WITH w AS (
        SELECT w.i, w.word, lx.lexeme
        FROM unnest(CAST(:words AS text[])) WITH ORDINALITY AS w(word, i),
             unnest(tsvector_to_array(to_tsvector('english', w.word))) AS lx(lexeme)
    ), wanted AS (
        SELECT count(DISTINCT i) AS n FROM w
    ), found AS (
        SELECT i, lexeme, true AS typed FROM w
        UNION ALL
        -- What the last word may be the beginning of (its stem is not always a prefix of
        -- what was typed: "query" -> queri, so the typed letters are matched).
        SELECT w.i, t.lexeme, false FROM w
        CROSS JOIN LATERAL (
            SELECT lexeme FROM search_terms
            WHERE user_id = :uid AND ndoc > 0
              AND lexeme ~>=~ w.word AND lexeme ~<~ (w.word || chr(1114111))
            ORDER BY ndoc DESC
            LIMIT :completions
        ) t
        WHERE :prefix AND w.i = :last
    ), terms AS (
        SELECT i, lexeme, bool_or(typed) AS typed FROM found GROUP BY i, lexeme
    ), weights AS (
        SELECT terms.i, terms.lexeme, terms.typed,
               -- float8: with integer counts, `+ 0.5` makes a numeric, and the idf times
               -- every posting's impact summed in numeric took two thirds of the query
               -- (100k pages: p50 21.7 ms, in float8 7.8 ms).
               ln(1 + (s.ndocs - t.ndoc + 0.5)::float8 / (t.ndoc + 0.5)) AS idf
        FROM terms
        JOIN search_stats s ON s.user_id = :uid
        -- Each term by its key (at most one row: LIMIT 1 keeps the planner from turning
        -- the look-ups into a hash join over all of the user's terms, as a plan made for
        -- no query in particular did, guessing 100 words).
        CROSS JOIN LATERAL (
            SELECT ndoc FROM search_terms
            WHERE user_id = :uid AND lexeme = terms.lexeme AND ndoc > 0
            LIMIT 1
        ) t
    ), hits AS (
        SELECT p.bookmark_id, weights.i, max(weights.idf * p.impact) AS s
        FROM weights CROSS JOIN LATERAL (
            SELECT bookmark_id, impact FROM search_postings
            WHERE user_id = :uid AND lexeme = weights.lexeme
            ORDER BY impact DESC
            LIMIT CASE WHEN weights.typed THEN CAST(:per_word AS int)
                       ELSE CAST(:per_completion AS int) END
        ) p
        GROUP BY p.bookmark_id, weights.i
    )
    SELECT h.bookmark_id, sum(h.s) AS score, count(*) AS matched, (SELECT n FROM wanted) AS wanted
    FROM hits h
    GROUP BY h.bookmark_id
    """
POSTINGS_SQL = text(_POSTINGS).columns(
    column("bookmark_id", Uuid),
    column("score", Float),
    column("matched", Integer),
    column("wanted", Integer),
)


def numbered(sql: str) -> tuple[str, list[str]]:
    """A statement written with :named parameters (for text()) in asyncpg's $1, $2...
    form, and the names in their order: one text for the ORM's and the read pool's use."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return re.sub(r"(?<![:\w]):(\w+)", number, sql), names


# The same ranking, best first, for the read pool (plain queries, no filter).
_POSTINGS_RANKED, _POSTINGS_ARGS = numbered(
    f"SELECT bookmark_id, matched, wanted, score FROM ({_POSTINGS}) ranked"
    " ORDER BY (matched >= wanted) DESC, score DESC, bookmark_id LIMIT :limit"
)


def _postings_values(
    user_id: uuid.UUID, q: str, prefix: bool, per_word: int
) -> dict[str, Any] | None:
    """The postings statement's parameters for a plain query; None when it has no word."""
    words = _WORD.findall(q.lower())[:32]
    if not words:
        return None
    return {
        "words": words,
        "uid": user_id,
        "prefix": prefix and len(words[-1]) >= 2,
        "last": len(words),
        "completions": PREFIX_COMPLETIONS,
        "per_word": per_word,
        "per_completion": min(per_word, PREFIX_POSTINGS),
    }


async def keyword_matches(
    session: AsyncSession,
    user_id: uuid.UUID,
    q: str,
    filters: Filters,
    limit: int = CANDIDATES,
    *,
    prefix: bool = True,
    per_word: int = POSTINGS_PER_WORD,
) -> list[Match]:
    """Matches, best first: BM25 (term frequency with field weights, page length,
    and how rare each word is among this user's pages) over the postings, pages with every
    word first. A page matching fewer than half of the words is not strong. Web-search syntax
    (quotes, `or`, `-word`) goes through the full-text index instead."""
    if _uses_syntax(q):
        return await _index_matches(session, user_id, q, filters, limit)
    values = _postings_values(user_id, q, prefix, per_word)
    if values is None:
        return []
    ranked = POSTINGS_SQL.bindparams(**values).subquery("ranked")
    query = select(
        ranked.c.bookmark_id, ranked.c.matched, ranked.c.wanted, ranked.c.score
    ).order_by(
        (ranked.c.matched >= ranked.c.wanted).desc(), ranked.c.score.desc(), ranked.c.bookmark_id
    )
    filtered = _conditions(user_id, filters)[1:]
    if filtered:
        query = query.join(Bookmark, Bookmark.id == ranked.c.bookmark_id).where(*filtered)
    rows = (await session.execute(query.limit(limit))).all()
    found = [Match(bid, matched * 2 >= wanted, score) for bid, matched, wanted, score in rows]
    if filtered and len(found) < limit:
        # A narrow filter can leave few of the words' best pages: look through the
        # full-text index under the filter instead.
        return await _index_matches(session, user_id, q, filters, limit)
    return found


async def keyword_fast(
    reads: ReadPool,
    user_id: uuid.UUID,
    q: str,
    limit: int = CANDIDATES,
    *,
    prefix: bool = True,
    per_word: int = POSTINGS_PER_WORD,
) -> list[Match]:
    """keyword_matches for a plain query without filters, through the read pool. On a
    generic plan: every step reads by key (the user's terms, stats and postings), so the
    plan is the same for every user and query, and planning it each time cost more than
    running it (500 pages: 0.53 against 0.08 ms of PostgreSQL's CPU; 100,000: 2.0 against
    1.6 ms)."""
    values = _postings_values(user_id, q, prefix, per_word)
    if values is None:
        return []
    values["limit"] = limit
    rows = await reads.fetch(
        _POSTINGS_RANKED, *(values[n] for n in _POSTINGS_ARGS), user=user_id, generic=True
    )
    return [Match(r[0], r[1] * 2 >= r[2], float(r[3])) for r in rows]


async def _index_matches(
    session: AsyncSession, user_id: uuid.UUID, q: str, filters: Filters, limit: int
) -> list[Match]:
    """Through the GIN index: pages matching the whole query (phrases, `or`, `-word`; the
    last word may be a prefix) by ts_rank_cd, then, for plain queries of several words, pages
    with some of the words ranked by BM25 over a pool. Exact under any filter, but it reads
    the vector of every matching page: for web-search syntax and narrow filters only."""
    tsq = ts_query(q)
    if tsq is None:
        return []
    rank = func.ts_rank_cd(Bookmark.search_vector, tsq, 32)
    found: list[Match] = [
        Match(r[0], True, 1.0 + float(r[1]))
        for r in await session.execute(
            select(Bookmark.id, rank)
            .where(*_conditions(user_id, filters), Bookmark.search_vector.op("@@")(tsq))
            .order_by(rank.desc(), Bookmark.id)
            .limit(limit)
        )
    ]
    # Enough pages with every word, or a query of one word or with syntax: done.
    if len(found) >= ALL_WORDS_ENOUGH or _uses_syntax(q) or len(_WORD.findall(q)) < 2:
        return found
    any_word = ts_query(q, any_word=True)
    seen = [m.bookmark_id for m in found]
    pool = list(
        await session.scalars(
            select(Bookmark.id)
            .where(
                *_conditions(user_id, filters),
                Bookmark.search_vector.op("@@")(any_word),
                *([Bookmark.id.not_in(seen)] if seen else []),
            )
            .order_by(func.ts_rank(Bookmark.search_vector, any_word, 1).desc())
            .limit(BM25_POOL)
        )
    )
    if pool:
        rows = await session.execute(
            BM25_SQL,
            {
                "q": q,
                "uid": user_id,
                "ids": pool,
                "k1": BM25_K1,
                "b": BM25_B,
                "limit": limit - len(found),
            },
        )
        # Below every page with all the words (their ts_rank_cd scores are offset by 1).
        top = max((score for _, score, _, _ in rows), default=1.0) or 1.0
        found += [
            Match(bid, matched * 2 >= wanted, score / top) for bid, score, matched, wanted in rows
        ]
    return found


async def semantic_candidates(
    session: AsyncSession,
    user_id: uuid.UUID,
    vector: np.ndarray,
    filters: Filters,
    limit: int = CANDIDATES,
    exclude: uuid.UUID | None = None,
) -> list[tuple[uuid.UUID, float]]:
    """The user's pages nearest to the vector, as (id, cosine distance), nearest first."""
    return (await meaning(session, user_id, vector, filters, limit, exclude=exclude))[0]


async def meaning(
    session: AsyncSession,
    user_id: uuid.UUID,
    vector: np.ndarray,
    filters: Filters,
    limit: int = CANDIDATES,
    *,
    exclude: uuid.UUID | None = None,
    also: list[uuid.UUID] | tuple[()] = (),
) -> tuple[list[tuple[uuid.UUID, float]], dict[uuid.UUID, float]]:
    """([(id, cosine distance)] of the `limit` nearest pages under the filters, nearest first;
    {id: cosine similarity} of the pages in `also` that are not among them), in one
    statement: the HNSW index (per user, with pgvector's iterative scan, set per connection
    in app.db) and an exact lookup of the pages keyword search found."""
    if limit > HNSW_EF_SEARCH:
        await session.execute(
            text("SELECT set_config('hnsw.ef_search', :ef, true)"), {"ef": str(limit)}
        )
    vec = BookmarkVector
    qv = bindparam("qv", vector.tolist(), type_=vec.embedding.type)
    distance = vec.embedding.cosine_distance(qv)
    near = (
        select(vec.bookmark_id.label("id"), distance.label("distance"), literal(True).label("near"))
        .where(vec.user_id == user_id)
        .order_by(distance)
        .limit(limit)
    )
    if filters != Filters():
        near = near.join(Bookmark, Bookmark.id == vec.bookmark_id).where(
            *_conditions(user_id, filters)
        )
    if exclude is not None:
        near = near.where(vec.bookmark_id != exclude)
    query: Any = near
    if also:
        found = near.cte("found")
        query = union_all(
            select(found.c.id, found.c.distance, found.c.near),
            select(vec.bookmark_id, distance, literal(False)).where(
                vec.user_id == user_id,
                vec.bookmark_id == any_(bindparam("also", list(also), type_=ARRAY(Uuid))),
                vec.bookmark_id.not_in(select(found.c.id)),
            ),
        )
    ranked: list[tuple[uuid.UUID, float]] = []
    looked_up: dict[uuid.UUID, float] = {}
    for bid, dist, is_near in await session.execute(query):
        if is_near:
            ranked.append((bid, float(dist)))
        else:
            looked_up[bid] = 1 - float(dist)
    # relaxed_order may return rows slightly out of order: sort them exactly (equal
    # distances by id).
    ranked.sort(key=lambda r: (r[1], r[0]))
    return ranked, looked_up


# The nearest pages of one user. Vectors are hash-partitioned by user, each partition with
# its own HNSW graph; a user who owns a small share of their partition's rows makes the
# iterative scan walk past many others' (10k pages among 110k: 35-40 ms), and reading all of
# the user's own vectors is quicker (16-19 ms) and exact. Reading n pages costs about 1.7 us
# each; the index scan costs about 5 ms over the share n/N of the partition: so the exact
# scan when n^2 < 3,000 N (n from the user's search statistics, N the partitions' mean
# estimated row count, from the catalog: finding the user's own partition would mean reading
# it). One statement: the branch not chosen is cut by its one-time filter and never runs.
EXACT_SCAN = """
    coalesce((SELECT s.ndocs FROM search_stats s WHERE s.user_id = $1), 0)::float8 ^ 2
    < 3000 * (SELECT coalesce(avg(greatest(c.reltuples, 0)), 0) FROM pg_inherits i
              JOIN pg_class c ON c.oid = i.inhrelid
              WHERE i.inhparent = 'bookmark_vectors'::regclass)
"""
_NEAREST_BRANCHES = """
    (SELECT bookmark_id, embedding <=> $2 AS distance FROM bookmark_vectors
     WHERE user_id = $1 AND NOT (SELECT yes FROM exact)
     ORDER BY embedding <=> $2 LIMIT $3)
    UNION ALL
    (SELECT bookmark_id, embedding <=> $2 FROM bookmark_vectors
     WHERE user_id = $1 AND (SELECT yes FROM exact)
     ORDER BY (embedding <=> $2) + 0 LIMIT $3)
"""
_NEAREST = f"WITH exact AS (SELECT {EXACT_SCAN} AS yes) {_NEAREST_BRANCHES}"
# Search's fast path in one statement: the nearest pages (as _NEAREST), the similarity of
# the keyword matches ($4, their BM25 scores $5, whether each is strong $8) that are not
# among them, and the fusion of the two exactly as combine() computes it (meaning weight $6,
# the best BM25 score $7, the relevance floor $9 and keyword margin $10), ranks, order and
# weak hits included; each statement less on a search's critical path saves its round trip,
# its planning and the Python between them.
_FUSED_CTES = f"""
    exact AS (SELECT {EXACT_SCAN} AS yes),
    near AS MATERIALIZED ({_NEAREST_BRANCHES}),
    kw AS (
        SELECT id, score, strong, rank
        FROM unnest($4::uuid[], $5::float8[], $8::bool[]) WITH ORDINALITY AS k(id, score, strong, rank)
    ),
    sem AS (
        SELECT bookmark_id AS id, 1 - distance AS similarity,
               row_number() OVER (ORDER BY distance, bookmark_id) AS rank
        FROM near
        UNION ALL
        SELECT bookmark_id, 1 - (embedding <=> $2), NULL FROM bookmark_vectors
        WHERE user_id = $1 AND bookmark_id = ANY($4::uuid[])
          AND bookmark_id NOT IN (SELECT bookmark_id FROM near)
    ),
    hits AS (
        SELECT coalesce(sem.id, kw.id) AS id,
               CAST($6 AS float8) * greatest(coalesce(sem.similarity, 0), 0)
               + (1 - CAST($6 AS float8)) * greatest(coalesce(kw.score, 0), 0)
                 / CAST($7 AS float8) AS score,
               sem.rank AS semantic_rank,
               CASE WHEN CAST($6 AS float8) < 1 THEN kw.rank END AS keyword_rank,
               CASE WHEN sem.similarity IS NULL THEN coalesce(kw.strong, false)
                    ELSE sem.similarity >= CAST($9 AS float8)
                         - CASE WHEN coalesce(kw.strong, false) THEN CAST($10 AS float8) ELSE 0 END
               END AS confident
        FROM sem FULL JOIN kw ON kw.id = sem.id
        -- Meaning alone ($6 = 1) ranks the pages it has a vector of; the words only say
        -- which of them clear the floor with the keyword margin (see combine()).
        WHERE sem.id IS NOT NULL OR CAST($6 AS float8) < 1
    ),
    lowest AS (
        SELECT coalesce(min(score), 'infinity'::float8) AS score FROM hits WHERE confident
    )
"""
_FUSED = (
    f"WITH {_FUSED_CTES} SELECT id, hits.score, semantic_rank, keyword_rank,"
    " hits.score < lowest.score AS weak FROM hits CROSS JOIN lowest ORDER BY hits.score DESC, id"
)
# ...and one page of it ($11 pages from $12 on) with what outs_of() reads of each, and how
# many hits there are in all.
_FUSED_PAGE = f"""
    WITH {_FUSED_CTES},
    page AS (
        SELECT hits.*, count(*) OVER () AS total, hits.score < lowest.score AS weak
        FROM hits CROSS JOIN lowest ORDER BY hits.score DESC, id LIMIT $11 OFFSET $12
    ),
    {outs_sql(13, "page", "page.score, page.semantic_rank, page.keyword_rank, page.total, page.weak, ")}
    ORDER BY page.score DESC, page.id
"""
_PAGE_COLUMNS = 5  # the page's columns ahead of outs_sql()'s


@functools.cache
def _vector_format(dim: int) -> str:
    return "[" + ",".join(["%.9g"] * dim) + "]"


def vector_text(vector: np.ndarray) -> str:
    """pgvector's text form of a vector (what a query parameter of type vector takes). Nine
    significant digits give back each float32 exactly (pgvector stores float4), in a third
    of the time and two thirds of the text of each value's shortest double repr."""
    values = vector.tolist()
    return _vector_format(len(values)) % tuple(values)


async def nearest(
    reads: ReadPool, user_id: uuid.UUID, vector: np.ndarray | str, limit: int = CANDIDATES
) -> list[tuple[uuid.UUID, float]]:
    """semantic_candidates without filters, through the read pool: (id, cosine distance),
    nearest first."""
    qv = vector if isinstance(vector, str) else vector_text(vector)
    rows = await reads.fetch(_NEAREST, user_id, qv, limit, user=user_id)
    # relaxed_order may return rows slightly out of order: sort them exactly (equal
    # distances, of pages with the same text, by id).
    return sorted(((r[0], float(r[1])) for r in rows), key=lambda r: (r[1], r[0]))


async def _fast_inputs(
    reads: ReadPool,
    user_id: uuid.UUID,
    q: str,
    mode: str,
    embedder: Embedder | None,
    redis: Any,
    limit: int,
) -> tuple[str | None, list[Match]]:
    """For a plain query without filters (what people type, nearly every search), through
    the read pool: the query's vector as pgvector's text (None in keyword mode, or with no
    model here) and its keyword matches (in semantic mode for the floor alone), the keywords
    read while the query is embedded."""
    tasks: list[asyncio.Task[Any]] = []

    def start(coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        tasks.append(task)
        return task

    try:
        vector_task = start(query_vector(embedder, redis, q)) if mode != "keyword" else None
        # In semantic mode too: whether a page has the words decides the floor in every mode.
        words = start(keyword_fast(reads, user_id, q, limit))
        vector = await vector_task if vector_task is not None else None
        if vector is None:  # keyword mode, or no model here: keywords alone
            return None, await words
        return vector_text(vector), await words
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
            elif not task.cancelled():
                task.exception()  # seen: a failure beside the one raised is not logged again


def plain(q: str, filters: Filters) -> bool:
    """Whether a search takes the fast path: no filter and no web-search syntax."""
    return filters == Filters() and not _uses_syntax(q)


def _fused_args(
    user_id: uuid.UUID, qv: str, matches: list[Match], mode: str, limit: int
) -> tuple[Any, ...]:
    """_FUSED's parameters, the first ten of _FUSED_PAGE's."""
    best = max((m.score for m in matches), default=0.0) or 1.0
    weight = {"hybrid": MEANING_WEIGHT, "semantic": 1.0}[mode]
    return (
        user_id,
        qv,
        limit,
        [m.bookmark_id for m in matches],
        [m.score for m in matches],
        weight,
        best,
        [m.strong for m in matches],
        RELEVANCE_FLOOR,
        KEYWORD_MARGIN,
    )


class Page(NamedTuple):
    """One page of search results, best first, with what the results show of each page
    (outs_of()), whether more follow, and the mode actually used."""

    hits: list[Hit]
    outs: dict[uuid.UUID, Out]
    more: bool
    mode: str


async def search_page(
    session: AsyncSession | None,
    user_id: uuid.UUID,
    q: str,
    filters: Filters,
    mode: str,
    *,
    embedder: Embedder | None,
    redis: Any,
    reads: ReadPool,
    offset: int,
    limit: int,
) -> Page:
    """The hits of hybrid() from `offset` on, `limit` of them, with outs_of() of each. A
    plain query without filters takes one statement after its inputs (_FUSED_PAGE): the
    nearest pages, the fusion, the page and what it shows; it needs no `session` (the others
    do)."""
    marks = highlight(q)
    if plain(q, filters):
        qv, matches = await _fast_inputs(reads, user_id, q, mode, embedder, redis, CANDIDATES)
        if qv is not None:
            rows = await reads.fetch(
                _FUSED_PAGE,
                *_fused_args(user_id, qv, matches, mode, CANDIDATES),
                limit,
                offset,
                *highlight_args(marks),
                user=user_id,
            )
            hits = [Hit(r[_PAGE_COLUMNS], float(r[0]), r[1], r[2], r[4]) for r in rows]
            outs = {
                h.bookmark_id: out_of_row(r, _PAGE_COLUMNS) for h, r in zip(hits, rows, strict=True)
            }
            return Page(hits, outs, bool(rows) and offset + limit < rows[0][3], mode)
        hits, used = combine([], matches, 0.0), "keyword"
    else:
        assert session is not None, "filters and web-search syntax read through the session"
        hits, used = await hybrid(
            session, user_id, q, filters, mode, embedder=embedder, redis=redis
        )
    page = hits[offset : offset + limit]
    outs = await outs_of(reads, user_id, [h.bookmark_id for h in page], marks)
    return Page(page, outs, offset + limit < len(hits), used)


def combine(
    semantic: list[tuple[uuid.UUID, float]],
    matches: list[Match],
    meaning_weight: float = MEANING_WEIGHT,
    ranked: int | None = None,
    floor: bool = True,
) -> list[Hit]:
    """Hits by the convex combination of similarity and normalised BM25; `semantic` holds
    (id, cosine similarity) for every page to score by meaning (the semantic candidates and
    the keyword matches whose similarity was looked up); only the first `ranked` of them (all
    by default) came from the meaning search and get a semantic rank. With `floor`, the hits
    below every confident one are marked weak (mark_weak())."""
    hits: dict[uuid.UUID, Hit] = {}
    for bid, similarity in semantic:
        hit = hits.setdefault(bid, Hit(bid, 0.0))
        hit.score += meaning_weight * max(similarity, 0.0)
    shown = len(semantic) if ranked is None else ranked
    ranks = {bid: rank for rank, (bid, _) in enumerate(semantic[:shown], 1)}
    best = max((m.score for m in matches), default=0.0) or 1.0
    # Meaning alone ranks the pages with a vector; the matches only count for the floor.
    by_words = meaning_weight < 1
    for rank, m in enumerate(matches if by_words else [], 1):
        hit = hits.setdefault(m.bookmark_id, Hit(m.bookmark_id, 0.0))
        hit.keyword_rank = rank
        hit.score += (1 - meaning_weight) * max(m.score, 0.0) / best
    for bid, rank in ranks.items():
        hits[bid].semantic_rank = rank
    ranking = sorted(hits.values(), key=lambda h: (-h.score, str(h.bookmark_id)))
    if floor:
        similarity = dict(semantic)
        strong = {m.bookmark_id for m in matches if m.strong}
        mark_weak(
            ranking,
            [confident(similarity.get(h.bookmark_id), h.bookmark_id in strong) for h in ranking],
        )
    return ranking


async def query_vector(embedder: Embedder | None, redis: Any, q: str) -> np.ndarray | None:
    """The query's vector (cached in Redis); None when no model is available here."""
    if embedder is None:
        return None
    try:
        if not embedder.loaded:
            await embedder.load_async()
        return await embed_cached(embedder, redis, q, cache="query_vectors")
    except Exception:  # no model: degrade to keyword search rather than fail
        log.warning("query embedding failed; keyword search only", exc_info=True)
        return None


async def hybrid(
    session: AsyncSession,
    user_id: uuid.UUID,
    q: str,
    filters: Filters,
    mode: str = "hybrid",
    *,
    embedder: Embedder | None,
    redis: Any,
    limit: int = CANDIDATES,
    reads: ReadPool | None = None,
) -> tuple[list[Hit], str]:
    """Ranked hits and the mode actually used (keyword alone when no model is available).
    The query is embedded in a thread while the keyword query runs in the database. With a
    read pool, plain queries without filters take the fast path: _fast_inputs(), then the
    nearest pages and their fusion with the keyword matches in one statement (_FUSED)."""
    if reads is not None and plain(q, filters):
        qv, found = await _fast_inputs(reads, user_id, q, mode, embedder, redis, limit)
        if qv is None:
            return combine([], found, 0.0), "keyword"
        rows = await reads.fetch(
            _FUSED, *_fused_args(user_id, qv, found, mode, limit), user=user_id
        )
        return [Hit(r[0], float(r[1]), r[2], r[3], r[4]) for r in rows], mode
    want_meaning = mode in ("hybrid", "semantic")
    vector_task = asyncio.create_task(query_vector(embedder, redis, q)) if want_meaning else None
    matches: list[Match] = []
    try:  # in semantic mode too, for the floor (or alone, with no model here)
        matches = await keyword_matches(session, user_id, q, filters, limit)
    finally:
        vector = await vector_task if vector_task is not None else None
    used = mode
    semantic: list[tuple[uuid.UUID, float]] = []
    ranked = 0
    if want_meaning and vector is None:
        used = "keyword"
    elif vector is not None:
        # The nearest pages and the similarity of the pages keywords found, in one statement.
        found, looked_up = await meaning(
            session, user_id, vector, filters, limit, also=[m.bookmark_id for m in matches]
        )
        semantic = [(bid, 1 - distance) for bid, distance in found]
        ranked = len(semantic)
        semantic += sorted(looked_up.items(), key=lambda kv: -kv[1])
    weight = {"hybrid": MEANING_WEIGHT, "semantic": 1.0, "keyword": 0.0}[used]
    return combine(semantic, matches, weight, ranked=ranked), used


def _mark(fragment: str) -> str:
    return html.escape(fragment).replace(_START, "<mark>").replace(_STOP, "</mark>")


_HEADLINE_OPTIONS = (
    f"StartSel={_START}, StopSel={_STOP}, MaxFragments=2, MinWords=8, MaxWords=28, "
    "FragmentDelimiter=\x01"
)


def highlight(q: str) -> Highlight | None:
    """What app.bookmarks.service.outs_of reads with each result for snippets(): the
    ts_headline of pages that have the words (never of all candidates: it re-parses the
    text), and whether the page has them."""
    found = ts_text(q)
    return None if found is None else Highlight(found[0], found[1], _HEADLINE_OPTIONS)


def snippets(
    description: str | None, lead: str | None, headline: str | None, matched: bool
) -> list[str]:
    """Highlighted fragments (HTML-escaped, words in <mark>) where the page has the words;
    otherwise how it begins (found by meaning alone)."""
    if matched and headline and _START in headline:
        return [_mark(f.strip()) for f in headline.split("\x01") if f.strip()]
    snippet = (description or lead or "").strip()
    return [html.escape(snippet[:240])] if snippet else []


async def bookmark_vector(
    session: AsyncSession, user_id: uuid.UUID, bookmark_id: uuid.UUID
) -> np.ndarray | None:
    """The bookmark's vector; 404 for another user's (or no) bookmark, None if not embedded."""
    from app.errors import NotFound

    row = (
        await session.execute(
            select(BookmarkVector.embedding)
            .select_from(Bookmark)
            .outerjoin(
                BookmarkVector,
                (BookmarkVector.bookmark_id == Bookmark.id)
                & (BookmarkVector.user_id == Bookmark.user_id),
            )
            .where(Bookmark.id == bookmark_id, Bookmark.user_id == user_id)
        )
    ).first()
    if row is None:
        raise NotFound("No such bookmark.", code="bookmark_not_found")
    return None if row[0] is None else np.asarray(row[0], dtype=np.float32)
