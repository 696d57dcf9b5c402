"""Which saved items help a project, task, subtask or free text, and why.

context -> candidates (the hybrid search: HNSW + BM25 postings, per user, never a scan)
-> features (similarity, keyword rank, technology overlap, intent fit, quality, recency,
feedback) -> score -> the relevance floor (items scored below every one that something ties
to the context are weak: listed apart, never padded in) -> diversity (MMR) -> reasons a
person understands. Works without any LLM:
Gemini's analysis and the project's intent only add features. Answers are cached in Redis
under the user's data version, which a database trigger bumps at the commit of any change
that shapes them (bookmarks, tags, analysis, projects, tasks, subtasks, feedback).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import AsyncSession

from app import metrics
from app.analysis.models import ContentAnalysis
from app.bookmarks import service as bookmarks_service
from app.bookmarks.models import Bookmark, BookmarkVector
from app.db import ReadPool
from app.embeddings.service import DIM, Embedder, binary, from_binary
from app.feedback.models import IRRELEVANT, RELEVANT, SAVED_TO_PROJECT, Feedback
from app.highlights import service as highlights_service
from app.lists.models import BookmarkListItem
from app.projects import service as projects_service
from app.projects.models import Project, Subtask, Task
from app.search import service as search
from app.users.models import User

log = logging.getLogger("fuze.recommendations")

CANDIDATES = 100
KEYWORD_WORDS = 24
POSTINGS_PER_WORD = search.POSTINGS_PER_WORD
# Score weights (bench/recommend.py measures them on SciFact). Relevance is a convex mix of
# meaning (cosine similarity) and keywords (BM25 over this query's best), which keeps the
# spread between a close and a distant item that rank fusion flattens; the other features
# only nudge, and only where the data has them (analysis, technologies, feedback).
RELEVANCE_MEANING = search.MEANING_WEIGHT
W_RELEVANCE = 1.0
W_TECHNOLOGY = 0.15
W_INTENT = 0.04
W_QUALITY = 0.03
W_RECENCY = 0.02
W_MARKED = 1.0  # marked relevant for this very context
W_LIKE = 0.35  # close to items marked relevant (this context counts fully, others half)
W_UNLIKE = 0.2  # close to items marked irrelevant for this context
# A passage the user highlighted in it is close in meaning to the context: how far above the
# relevance floor, scaled to 0-1. What someone marked while reading is a stronger sign of what
# they found worth keeping than the page as a whole.
W_HIGHLIGHT = 0.15
MAX_PLAIN = W_RELEVANCE + W_TECHNOLOGY + W_INTENT + W_QUALITY + W_RECENCY
# Diversity: maximal marginal relevance over the best MMR_POOL, trading this much relevance
# for novelty (1.0 would be no diversity at all). Only resemblance above MMR_FLOOR counts:
# two pages on one subject are both useful, two copies of one page are not. On SciFact
# (bench/recommend.py, 300 queries): no MMR 0.754 nDCG@10, lambda 0.8 with no floor 0.747,
# with floor 0.5 0.740, with floor 0.7 0.746 (hybrid search: 0.745).
MMR_LAMBDA = 0.8
MMR_FLOOR = 0.7
MMR_POOL = 40
CACHE_TTL_SECONDS = 3600
# Vectors of a subtask's or task's context: itself first, then its parents.
TASK_MIX = (0.65, 0.35)
SUBTASK_MIX = (0.5, 0.3, 0.2)

GOAL_TYPES = {
    "learn": {"tutorial", "course", "documentation", "article", "video"},
    "build": {"documentation", "reference", "tutorial", "repository", "tool"},
    "debug": {"discussion", "documentation", "reference", "article"},
    "research": {"paper", "article", "discussion", "news"},
}
GOAL_DIFFICULTY = {"learn": {"beginner", "intermediate"}, "research": {"intermediate", "advanced"}}
CONTENT_NOUNS = {
    "documentation": "documentation page",
    "reference": "reference page",
    "news": "news story",
    "tool": "tool page",
}
GOAL_ADJECTIVE = {"learn": "learning", "build": "building", "debug": "debugging"}
_WORDS = re.compile(r"[A-Za-z][A-Za-z0-9+#.-]{2,}")
# Words that tie nothing to anything, however rare they are in a library: a reason never
# names them (matched by their English stem, so "needs" and "needed" go with "need").
FILLER = (
    "need use make using based new way thing good best work want like also just get help take"
    " know see look find start try first one two many much well really able allow build create"
    " learn guide intro introduction overview simple easy quick small big part step steps tip"
    " tips example examples better great lot lots time year day people world thing stuff"
    " article page post read today latest full complete ultimate basic basics"
)
# A shared word named in a reason must be in at most this share of the user's library
# (libraries of a few pages excepted): a word every page has ties nothing.
DISTINCT_SHARE = 0.5
# Reasons name at most this many shared words, the rarest in the library first.
REASON_TERMS = 3
_STOP = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "from",
        "this",
        "that",
        "into",
        "your",
        "what",
        "how",
        "why",
        "when",
        "use",
        "using",
        "about",
        "are",
        "was",
        "can",
        "will",
        "not",
        "but",
        "all",
        "any",
        "our",
        "out",
        "get",
        "set",
        "has",
        "have",
        "had",
        "its",
        "it's",
        "via",
        "per",
        "new",
        "more",
        "most",
    ]
)


@dataclass
class Context:
    type: str  # project | task | subtask | text
    key: str  # the id, or the text's hash
    noun: str  # what the reasons call it
    title: str
    query: str  # the keyword query: its most telling words
    vector: np.ndarray | None
    technologies: list[str] = field(default_factory=list)
    goal: str | None = None
    concepts: list[str] = field(default_factory=list)


@dataclass
class Candidate:
    bookmark_id: uuid.UUID
    keyword: float = 0.0  # BM25 / the best BM25 among this context's matches
    semantic_rank: int | None = None
    keyword_rank: int | None = None
    strong: bool = False  # has at least half of the context's keyword query
    similarity: float = 0.0
    technologies: list[str] = field(default_factory=list)  # of the context, covered here
    concepts: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)  # distinctive words shared, rarest first
    intent_fit: float = 0.0
    content_type: str | None = None
    difficulty: str | None = None
    title: str | None = None
    task: str | None = None  # the context's closest task (of a project)
    liked_title: str | None = None  # the closest item marked relevant
    highlight: str | None = None  # the user's highlight in it closest to the context
    highlight_similarity: float = 0.0
    confident: bool = False
    weak: bool = False  # scored below every confident item
    quality: float = 0.5
    recency: float = 0.0
    marked: bool = False
    like: float = 0.0
    liked_count: int = 0
    unlike: float = 0.0
    score: float = 0.0
    reasons: list[str] = field(default_factory=list)


def text_key(text: str, technologies: list[str]) -> str:
    """A free-form context's stable id: the hash of its normalised text and technologies."""
    norm = " ".join(text.lower().split()) + "|" + ",".join(sorted(t.lower() for t in technologies))
    return hashlib.sha256(norm.encode()).hexdigest()[:32]


def _norm_tech(name: str) -> str:
    return re.sub(r"[^a-z0-9+#]", "", name.lower())


def _telling_words(*parts: str | list[str] | None) -> str:
    """Up to KEYWORD_WORDS distinct words, in the order given (titles and technologies first)."""
    seen: dict[str, None] = {}
    for part in parts:
        if not part:
            continue
        text = " ".join(part) if isinstance(part, list) else part
        for w in _WORDS.findall(text):
            lw = w.lower().strip(".-")
            if lw not in _STOP and len(seen) < KEYWORD_WORDS:
                seen.setdefault(lw, None)
    return " ".join(seen)


def _unit(v: np.ndarray | None) -> np.ndarray | None:
    if v is None:
        return None
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else None


def _mix(parts: list[tuple[float, np.ndarray | None]]) -> np.ndarray | None:
    present = [(w, v) for w, v in parts if v is not None]
    if not present:
        return None
    return _unit(sum(w * np.asarray(v, dtype=np.float32) for w, v in present))  # type: ignore[arg-type]


async def _vector(
    stored: Any, text: str, embedder: Embedder | None, redis: Any
) -> np.ndarray | None:
    """The stored embedding, or the text embedded now (the job has not run yet)."""
    if stored is not None:
        return np.asarray(stored, dtype=np.float32)
    return await search.query_vector(embedder, redis, text) if text.strip() else None


async def _embedding_of(session: AsyncSession, model: Any, row_id: uuid.UUID) -> Any:
    return await session.scalar(select(model.embedding).where(model.id == row_id))


def _intent(project: Project) -> tuple[str | None, list[str]]:
    intent = project.intent or {}
    goal = intent.get("goal") if isinstance(intent.get("goal"), str) else None
    concepts = [
        str(c)
        for key in ("concepts", "skills")
        for c in (intent.get(key) or [])
        if isinstance(c, str) and c.strip()
    ]
    return goal, concepts[:20]


async def project_context(
    session: AsyncSession, user: User, project_id: uuid.UUID, embedder: Embedder | None, redis: Any
) -> Context:
    project = await projects_service.get_project(session, user, project_id)
    text = projects_service.project_text(project.title, project.description, project.technologies)
    goal, concepts = _intent(project)
    stored = await _embedding_of(session, Project, project.id)
    return Context(
        type="project",
        key=str(project.id),
        noun="project",
        title=project.title,
        query=_telling_words(project.title, project.technologies, concepts, project.description),
        vector=_unit(await _vector(stored, text, embedder, redis)),
        technologies=list(project.technologies or []),
        goal=goal,
        concepts=concepts,
    )


async def _task_parts(
    session: AsyncSession, user: User, task: Task, embedder: Embedder | None, redis: Any
) -> tuple[Context, np.ndarray | None]:
    """The task's project context and the task's own vector."""
    project_ctx = await project_context(session, user, task.project_id, embedder, redis)
    text = projects_service.task_text(task.title, task.description)
    own = await _vector(await _embedding_of(session, Task, task.id), text, embedder, redis)
    return project_ctx, _unit(own)


async def task_context(
    session: AsyncSession, user: User, task_id: uuid.UUID, embedder: Embedder | None, redis: Any
) -> Context:
    task = await projects_service.get_task(session, user, task_id)
    project, own = await _task_parts(session, user, task, embedder, redis)
    return Context(
        type="task",
        key=str(task.id),
        noun="task",
        title=task.title,
        query=_telling_words(task.title, project.technologies, task.description, project.query),
        vector=_mix([(TASK_MIX[0], own), (TASK_MIX[1], project.vector)]),
        technologies=project.technologies,
        goal=project.goal,
        concepts=project.concepts,
    )


async def subtask_context(
    session: AsyncSession, user: User, subtask_id: uuid.UUID, embedder: Embedder | None, redis: Any
) -> Context:
    subtask = await projects_service.get_subtask(session, user, subtask_id)
    task = await projects_service.get_task(session, user, subtask.task_id)
    project, task_vector = await _task_parts(session, user, task, embedder, redis)
    text = projects_service.subtask_text(subtask.title)
    own = await _vector(await _embedding_of(session, Subtask, subtask.id), text, embedder, redis)
    return Context(
        type="subtask",
        key=str(subtask.id),
        noun="subtask",
        title=subtask.title,
        query=_telling_words(subtask.title, task.title, project.technologies, project.query),
        vector=_mix(
            [
                (SUBTASK_MIX[0], _unit(own)),
                (SUBTASK_MIX[1], task_vector),
                (SUBTASK_MIX[2], project.vector),
            ]
        ),
        technologies=project.technologies,
        goal=project.goal,
        concepts=project.concepts,
    )


async def text_context(
    text: str, technologies: list[str], embedder: Embedder | None, redis: Any
) -> Context:
    first_line = text.strip().splitlines()[0] if text.strip() else text
    return Context(
        type="text",
        key=text_key(text, technologies),
        noun="text",
        title=first_line[:80],
        query=_telling_words(technologies, text),
        vector=_unit(await search.query_vector(embedder, redis, text)),
        technologies=technologies,
    )


def _fit(goal: str | None, content_type: str | None, difficulty: str | None) -> float:
    if not goal or goal not in GOAL_TYPES or not content_type:
        return 0.0
    fit = 0.7 if content_type in GOAL_TYPES[goal] else 0.0
    wanted = GOAL_DIFFICULTY.get(goal)
    if wanted and difficulty:
        fit += 0.3 if difficulty in wanted else -0.2
    return max(0.0, min(1.0, fit))


def _cos(a: np.ndarray | None, b: np.ndarray | None) -> float:
    if a is None or b is None:
        return 0.0
    return float(np.dot(a, b))


async def _feedback(
    session: AsyncSession, user: User, ctx: Context
) -> tuple[set[uuid.UUID], set[uuid.UUID], set[uuid.UUID], list[tuple[uuid.UUID, float]]]:
    """(marked relevant here, dismissed here, attached here, [(item marked relevant
    anywhere, weight: 1 here, 0.5 elsewhere)]) from this user's feedback."""
    rows = (
        await session.execute(
            select(
                Feedback.bookmark_id, Feedback.signal, Feedback.context_type, Feedback.context_key
            )
            .where(
                Feedback.user_id == user.id,
                Feedback.signal.in_((RELEVANT, IRRELEVANT, SAVED_TO_PROJECT)),
            )
            .order_by(Feedback.updated_at.desc())
            .limit(500)
        )
    ).all()
    here = [(b, s) for b, s, t, k in rows if t == ctx.type and k == ctx.key]
    marked = {b for b, s in here if s == RELEVANT}
    dismissed = {b for b, s in here if s == IRRELEVANT}
    attached = {b for b, s in here if s == SAVED_TO_PROJECT}
    liked: dict[uuid.UUID, float] = {}
    for b, s, t, k in rows:
        if s == RELEVANT:
            weight = 1.0 if (t == ctx.type and k == ctx.key) else 0.5
            liked[b] = max(liked.get(b, 0.0), weight)
    return marked, dismissed, attached, list(liked.items())


async def recommend(
    session: AsyncSession,
    user: User,
    ctx: Context,
    limit: int = 10,
    include_attached: bool = False,
    reads: ReadPool | None = None,
    floor: bool = True,
    list_ids: list[uuid.UUID] | None = None,
) -> list[Candidate]:
    """The user's items for this context, best first. With a read pool, the feedback, the
    nearest items and the keyword matches are read at once, each on its own connection.
    With `floor`, the items scored below every one that something ties to the context
    (confident()) are weak, and follow the others: all are when nothing is tied. With
    `list_ids`, only the bookmarks in those lists are candidates: searched under that filter
    on the request's session, since the read pool's fast paths search the whole library."""
    scoped = search.Filters(list_ids=tuple(list_ids)) if list_ids is not None else None
    if scoped is not None:
        reads = None

    async def semantic_of() -> list[tuple[uuid.UUID, float]]:
        if ctx.vector is None:
            return []
        if reads is not None:
            return await search.nearest(reads, user.id, ctx.vector, CANDIDATES)
        return await search.semantic_candidates(
            session, user.id, ctx.vector, scoped or search.Filters(), CANDIDATES
        )

    async def matches_of() -> list[search.Match]:
        if not ctx.query:
            return []
        if reads is not None:
            return await search.keyword_fast(
                reads, user.id, ctx.query, CANDIDATES, prefix=False, per_word=POSTINGS_PER_WORD
            )
        return await search.keyword_matches(
            session,
            user.id,
            ctx.query,
            scoped or search.Filters(),
            CANDIDATES,
            prefix=False,
            per_word=POSTINGS_PER_WORD,
        )

    if reads is not None:
        reading = [
            asyncio.ensure_future(c)
            for c in (_feedback(session, user, ctx), semantic_of(), matches_of())
        ]
        try:
            (marked, dismissed, attached, liked), semantic, matches = await asyncio.gather(*reading)
        except BaseException:
            for task in reading:  # none is left running on a connection that is handed back
                task.cancel()
            await asyncio.gather(*reading, return_exceptions=True)
            raise
    else:
        marked, dismissed, attached, liked = await _feedback(session, user, ctx)
        semantic, matches = await semantic_of(), await matches_of()
    unliked = dismissed
    cands: dict[uuid.UUID, Candidate] = {}
    for rank, (bid, _) in enumerate(semantic, 1):
        cands[bid] = Candidate(bid, semantic_rank=rank)
    best = max((m.score for m in matches), default=0.0) or 1.0
    for rank, m in enumerate(matches, 1):
        c = cands.setdefault(m.bookmark_id, Candidate(m.bookmark_id))
        c.keyword_rank, c.keyword, c.strong = rank, m.score / best, m.strong
    for bid in marked:  # what the user marked relevant here is always a candidate
        cands.setdefault(bid, Candidate(bid))
    for bid in dismissed | (set() if include_attached else attached):
        cands.pop(bid, None)
    if scoped is not None and cands:  # what was marked relevant must be in the list too
        inside = set(
            await session.scalars(
                select(BookmarkListItem.bookmark_id).where(
                    BookmarkListItem.user_id == user.id,
                    BookmarkListItem.list_id.in_(scoped.list_ids or ()),
                    BookmarkListItem.bookmark_id.in_(list(cands)),
                )
            )
        )
        cands = {bid: c for bid, c in cands.items() if bid in inside}
    if not cands:
        return []

    ids = list(cands)
    feedback_ids = [b for b, _ in liked] + list(unliked)
    rows = (
        await session.execute(
            select(
                Bookmark.id,
                Bookmark.quality,
                Bookmark.saved_at,
                Bookmark.title,
                Bookmark.page_title,
                ContentAnalysis.content_type,
                ContentAnalysis.difficulty,
                ContentAnalysis.technologies,
                ContentAnalysis.key_concepts,
            )
            .outerjoin(
                ContentAnalysis,
                (ContentAnalysis.bookmark_id == Bookmark.id) & (ContentAnalysis.status == "ready"),
            )
            .where(Bookmark.user_id == user.id, Bookmark.id.in_(ids))
        )
    ).all()
    vectors = {
        bid: from_binary(raw)
        for bid, raw in await session.execute(
            select(BookmarkVector.bookmark_id, binary(BookmarkVector.embedding)).where(
                BookmarkVector.user_id == user.id,
                BookmarkVector.bookmark_id.in_(set(ids) | set(feedback_ids)),
            )
        )
    }
    tags = await bookmarks_service.tags_of(session, ids)
    highlighted = await highlights_service.closest(session, user.id, ids, ctx.vector)
    now = datetime.now(UTC)
    ctx_tech = {_norm_tech(t): t for t in ctx.technologies if _norm_tech(t)}
    liked_vecs = [(b, vectors[b], w) for b, w in liked if b in vectors]
    unliked_vecs = [vectors[b] for b in unliked if b in vectors]
    present: dict[uuid.UUID, Candidate] = {}
    closest_liked: dict[uuid.UUID, uuid.UUID | None] = {}
    for bid, quality, saved_at, title, page_title, ctype, difficulty, techs, concepts in rows:
        c = cands[bid]
        v = vectors.get(bid)
        c.similarity = max(0.0, _cos(ctx.vector, v))
        # Analysed technologies and tags, and without an analysis the title's own words
        # ("Full-text search in PostgreSQL" covers PostgreSQL).
        title_words = _WORDS.findall(f"{title or ''} {page_title or ''}")
        item_tech = {_norm_tech(t) for t in [*(techs or []), *tags.get(bid, []), *title_words]}
        c.technologies = [name for key, name in ctx_tech.items() if key in item_tech]
        lower_concepts = [k.lower() for k in (concepts or [])]
        c.concepts = [
            need
            for need in ctx.concepts
            if any(need.lower() in k or k in need.lower() for k in lower_concepts)
        ][:3]
        c.content_type, c.difficulty, c.title = ctype, difficulty, title or page_title
        c.intent_fit = _fit(ctx.goal, ctype, difficulty)
        c.quality = (quality if quality is not None else 50) / 100
        age_days = max(0.0, (now - saved_at).total_seconds() / 86400) if saved_at else 365.0
        c.recency = math.exp(-age_days / 365)
        c.marked = bid in marked
        if bid in highlighted:
            c.highlight, c.highlight_similarity = highlighted[bid]
        if v is not None:
            sims = [(_cos(v, lv), w, lb) for lb, lv, w in liked_vecs if lb != bid]
            close = [(s, w, lb) for s, w, lb in sims if s >= 0.5 and s < 0.999]
            c.like = max(((s - 0.5) / 0.5 * w for s, w, _ in close), default=0.0)
            c.liked_count = len(close)
            closest_liked[bid] = max(close, default=(0.0, 0.0, None))[2]
            c.unlike = max(
                ((s - 0.5) / 0.5 for s in (_cos(v, uv) for uv in unliked_vecs) if s >= 0.5),
                default=0.0,
            )
        tech_share = len(c.technologies) / len(ctx_tech) if ctx_tech else 0.0
        relevance = RELEVANCE_MEANING * c.similarity + (1 - RELEVANCE_MEANING) * c.keyword
        c.score = (
            W_RELEVANCE * relevance
            + W_TECHNOLOGY * tech_share
            + W_INTENT * c.intent_fit
            + W_QUALITY * c.quality
            + W_RECENCY * c.recency
            + W_MARKED * c.marked
            + W_LIKE * c.like
            - W_UNLIKE * c.unlike
            + W_HIGHLIGHT * _above_floor(c.highlight_similarity)
        )
        c.confident = confident(c, v is not None)
        present[bid] = c
    ranked = sorted(present.values(), key=lambda c: (-c.score, str(c.bookmark_id)))
    if floor:  # as search marks them: what scores below every confident item is weak
        lowest = min((c.score for c in ranked if c.confident), default=math.inf)
        for c in ranked:
            c.weak = c.score < lowest
    picked = _diversify([c for c in ranked if not c.weak], vectors, limit)
    picked += [c for c in ranked if c.weak][: limit - len(picked)]
    await _ties(session, user, ctx, picked, vectors, closest_liked)
    for c in picked:
        c.reasons = _reasons(c, ctx)
    return picked


def _above_floor(similarity: float) -> float:
    floor = search.RELEVANCE_FLOOR
    return max(0.0, (similarity - floor) / (1 - floor))


def confident(c: Candidate, has_vector: bool) -> bool:
    """Whether something ties the item to the context: marked relevant here, one of the
    context's technologies, a passage the user highlighted in it as close in meaning as
    search's relevance floor, or meaning (and words) as close as that floor
    (chosen on SciFact: bench/retrieval.py --floor; bench/recommend.py reports what it does
    to recommendations)."""
    return (
        c.marked
        or bool(c.technologies)
        or c.highlight_similarity >= search.RELEVANCE_FLOOR
        or search.confident(c.similarity if has_vector else None, c.strong)
    )


# The words of a context the listed items share, each with its document frequency in the
# user's library: read from the postings of those items only (their index by bookmark).
_SHARED_WORDS = sql_text(
    """
    WITH w AS (
        SELECT DISTINCT ON (lx.lexeme) w.word, lx.lexeme
        FROM unnest(CAST(:words AS text[])) WITH ORDINALITY AS w(word, i),
             unnest(tsvector_to_array(to_tsvector('english', w.word))) AS lx(lexeme)
        WHERE lx.lexeme <> ALL(tsvector_to_array(to_tsvector('english', :filler)))
        ORDER BY lx.lexeme, w.i
    )
    SELECT p.bookmark_id, w.word, t.ndoc, s.ndocs
    FROM search_postings p
    JOIN w ON w.lexeme = p.lexeme
    JOIN search_stats s ON s.user_id = :uid
    JOIN search_terms t ON t.user_id = :uid AND t.lexeme = p.lexeme
    WHERE p.bookmark_id = ANY(:ids) AND p.user_id = :uid
    """
)


async def _ties(
    session: AsyncSession,
    user: User,
    ctx: Context,
    picked: list[Candidate],
    vectors: dict[uuid.UUID, np.ndarray],
    closest_liked: dict[uuid.UUID, uuid.UUID | None],
) -> None:
    """What ties each listed item to the context, for its reasons: the distinctive words
    they share (rarest in the library first, never filler), the closest task of a project,
    and the title of the closest item marked relevant."""
    if not picked:
        return
    ids = [c.bookmark_id for c in picked]
    shared: dict[uuid.UUID, list[tuple[float, str]]] = {}
    if ctx.query:
        rows = await session.execute(
            _SHARED_WORDS,
            {"words": ctx.query.split(), "filler": FILLER, "uid": user.id, "ids": ids},
        )
        for bid, word, ndoc, ndocs in rows:
            if ndocs >= 4 and ndoc > DISTINCT_SHARE * ndocs:
                continue
            idf = math.log(1 + (ndocs - ndoc + 0.5) / (ndoc + 0.5))
            shared.setdefault(bid, []).append((idf, word))
    tasks: list[tuple[str, np.ndarray]] = []
    if ctx.type == "project":
        tasks = [
            (title, np.asarray(emb, dtype=np.float32))
            for title, emb in await session.execute(
                select(Task.title, Task.embedding).where(
                    Task.user_id == user.id,
                    Task.project_id == uuid.UUID(ctx.key),
                    Task.embedding.is_not(None),
                )
            )
        ]
    liked_ids = {b for b in closest_liked.values() if b is not None}
    titles = {
        bid: title or page_title
        for bid, title, page_title in (
            await session.execute(
                select(Bookmark.id, Bookmark.title, Bookmark.page_title).where(
                    Bookmark.user_id == user.id, Bookmark.id.in_(liked_ids)
                )
            )
            if liked_ids
            else []
        )
    }
    for c in picked:
        words = sorted(shared.get(c.bookmark_id, []), key=lambda t: (-t[0], t[1]))
        c.words = [w for _, w in words[:REASON_TERMS]]
        v = vectors.get(c.bookmark_id)
        if tasks and v is not None:
            sim, title = max((_cos(v, _unit(tv)), t) for t, tv in tasks)
            c.task = title if sim >= search.RELEVANCE_FLOOR else None
        liked = closest_liked.get(c.bookmark_id)
        c.liked_title = titles.get(liked) if liked else None


def _diversify(
    ranked: list[Candidate], vectors: dict[uuid.UUID, np.ndarray], limit: int
) -> list[Candidate]:
    """Maximal marginal relevance over the best MMR_POOL: the next item is the one whose
    score, less its similarity to what was already picked, is highest. Items marked relevant
    here are never pushed down for resembling others."""
    pool, rest = ranked[:MMR_POOL], ranked[MMR_POOL:]
    if not pool:
        return []
    zero = np.zeros(DIM, dtype=np.float32)
    matrix = np.stack([vectors.get(c.bookmark_id, zero) for c in pool])
    sims = matrix @ matrix.T  # pairwise cosine (vectors are unit length; missing ones are 0)
    scores = np.array([c.score for c in pool]) / (max(c.score for c in pool) or 1.0)
    exempt = np.array([c.marked for c in pool])
    redundancy = np.zeros(len(pool))
    left = np.ones(len(pool), dtype=bool)
    order: list[int] = []
    while left.any() and len(order) < limit:
        value = MMR_LAMBDA * scores - (1 - MMR_LAMBDA) * np.where(exempt, 0.0, redundancy)
        value[~left] = -np.inf
        i = int(np.argmax(value))
        order.append(i)
        left[i] = False
        redundancy = np.maximum(redundancy, np.clip((sims[i] - MMR_FLOOR) / (1 - MMR_FLOOR), 0, 1))
    picked = [pool[i] for i in order]
    unpicked = [pool[i] for i in range(len(pool)) if left[i]]
    return (picked + unpicked + rest)[:limit]


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _reasons(c: Candidate, ctx: Context) -> list[str]:
    """Why, in words, strongest first (at most three): what ties the item to the context."""
    this = f"this {ctx.noun}" if ctx.type != "text" else "what you described"
    out: list[str] = []
    if c.marked:
        out.append(f"You marked it relevant for {this}.")
    if c.highlight and c.highlight_similarity >= search.RELEVANCE_FLOOR:
        out.append(f"You highlighted “{_clip(c.highlight, 100)}” in it.")
    if c.technologies:
        out.append(f"Covers {_and(c.technologies[:3])}, which {this} uses.")
    if c.concepts:
        out.append(f"Covers {_and(c.concepts)}, which {this} needs.")
    if c.words:
        out.append(f"Both mention {_and(c.words)}.")
    if c.task:
        out.append(f"Closest to the task “{c.task[:80]}”.")
    if c.intent_fit >= 0.7 and c.content_type and ctx.goal:
        noun = CONTENT_NOUNS.get(c.content_type, c.content_type)
        kind = f"{c.difficulty} {noun}" if c.difficulty else noun
        article = "an" if kind[0] in "aeiou" else "a"
        goal = GOAL_ADJECTIVE.get(ctx.goal, ctx.goal)
        out.append(f"{article.capitalize()} {kind}, matching a {goal} {ctx.noun}.")
    if c.liked_count and c.like > 0:
        if c.liked_title:
            out.append(f"Like “{c.liked_title[:80]}”, which you marked relevant.")
        else:
            n = c.liked_count
            out.append(f"Similar to {n} item{'s' if n > 1 else ''} you marked relevant.")
    if c.similarity >= search.RELEVANCE_FLOOR and ctx.type != "text":
        out.append(f"Close in meaning to “{ctx.title[:80]}”.")
    elif c.similarity >= search.RELEVANCE_FLOOR:
        out.append("Close in meaning to what you described.")
    if not out:
        out.append(f"Among your saved items closest to {this}.")
    return out[:3]


def cache_key(
    user: User, version: int, ctx_type: str, ctx_key: str, limit: int, include_attached: bool
) -> str:
    return f"fuze:rec:{user.id}:{version}:{ctx_type}:{ctx_key}:{limit}:{int(include_attached)}"


async def cached(redis: Any, key: str) -> bytes | None:
    """The stored answer's JSON (an object), or None."""
    try:
        raw = await redis.get(key)
    except Exception:  # Redis down: compute instead
        raw = None
    found = raw is not None and raw[:1] == b"{"
    metrics.cache_lookup("recommendations", found)
    return raw if found else None


async def store(redis: Any, key: str, value: bytes) -> None:
    try:
        await redis.set(key, value, ex=CACHE_TTL_SECONDS)
    except Exception:
        log.debug("caching recommendations failed", exc_info=True)
