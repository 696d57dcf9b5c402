"""arq jobs of the pipeline. Each takes ids, opens its own session, is idempotent, and moves
the bookmark to the next stage in the same commit as its results. Their sessions find rows by
key only, so they run on generic plans (app.db.KEYED)."""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from typing import Any

from arq import Retry
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from app.analysis import jobs as analysis_jobs
from app.archives import store as archive_store
from app.bookmarks import pipeline
from app.bookmarks.models import (
    EMBEDDING,
    EXTRACTING,
    FAILED,
    FETCHING,
    PENDING,
    READY,
    Bookmark,
    BookmarkVector,
)
from app.bookmarks.urls import is_upload
from app.db import KEYED, bind_system, bind_user
from app.duplicates import jobs as duplicate_jobs
from app.embeddings.service import bookmark_text, embed_cached
from app.extraction import documents
from app.extraction.documents import DocumentError
from app.extraction.extract import WORDS_PER_MINUTE, ExtractionError, content_hash, extract
from app.extraction.fetch import FetchError, fetch

log = logging.getLogger("fuze.pipeline")

MAX_TRIES = 5
# Beyond this many starts of one run (crashes, timeouts, sweeps) the bookmark is failed.
MAX_ATTEMPTS = 12


def backoff_seconds(job_try: int, retry_after: float | None = None, base: float = 5.0) -> float:
    delay = min(base * 3 ** (job_try - 1), 300)  # 5 s, 15 s, 45 s, 135 s, 300 s
    return max(delay, min(retry_after or 0, 3600))


async def _current(
    session: AsyncSession, bookmark_id: str, run: int, *columns: Any
) -> Bookmark | None:
    """The bookmark if this job's run is still the current one; the session works for its
    owner from then on (row-level security, app.db)."""
    await bind_system(session)  # whose it is, read across users
    query = select(Bookmark).where(Bookmark.id == uuid.UUID(bookmark_id))
    if columns:
        query = query.options(*(undefer(c) for c in columns))
    bookmark = await session.scalar(query.with_for_update(key_share=True))
    if bookmark is None or bookmark.run != run:
        return None
    await bind_user(session, bookmark.user_id)
    return bookmark


def _session(ctx: dict[str, Any]) -> Any:
    """A stage's session: it finds its bookmark and vector by key, so generic plans."""
    return ctx["sessionmaker"](info=KEYED)


async def _fail(ctx: dict[str, Any], bookmark_id: str, run: int, code: str, message: str) -> str:
    async with _session(ctx) as session:
        bookmark = await _current(session, bookmark_id, run)
        if bookmark is None:
            return "stale"
        pipeline.set_status(bookmark, FAILED, code, message)
        if not bookmark.html_captured:  # a captured page is kept (and never loaded here)
            bookmark.html = None
        await session.commit()
    await pipeline.publish_status(ctx["redis"], bookmark)
    log.info("bookmark failed", extra={"bookmark_id": bookmark_id, "code": code})
    return f"failed: {code}"


async def _transient(
    ctx: dict[str, Any],
    bookmark_id: str,
    run: int,
    code: str,
    message: str,
    retry_after: float | None = None,
) -> str:
    """Retry with backoff while tries remain; then fail with the last reason."""
    job_try = ctx.get("job_try", 1)
    if job_try >= MAX_TRIES:
        return await _fail(
            ctx, bookmark_id, run, code, f"{message} (gave up after {job_try} tries)"
        )
    delay = backoff_seconds(job_try, retry_after, ctx["settings"].pipeline_retry_base_seconds)
    async with _session(ctx) as session:
        bookmark = await _current(session, bookmark_id, run)
        if bookmark is None:
            return "stale"
        bookmark.error_code = code
        bookmark.error_message = f"{message} Retrying in {int(delay)} s."
        await session.commit()
    await pipeline.publish_status(ctx["redis"], bookmark)
    raise Retry(defer=delay)


async def _begin(
    ctx: dict[str, Any],
    bookmark_id: str,
    run: int,
    expected: tuple[str, ...],
    status: str,
    *columns: Any,
) -> Bookmark | None:
    """Claim the stage: check the run and status, count the attempt, publish the status."""
    async with _session(ctx) as session:
        bookmark = await _current(session, bookmark_id, run, *columns)
        if bookmark is None or bookmark.status not in expected:
            return None  # stale run, or another job already moved it on
        if bookmark.attempts >= MAX_ATTEMPTS:
            pipeline.set_status(
                bookmark,
                FAILED,
                "too_many_attempts",
                "Processing kept failing; try refreshing later.",
            )
            await session.commit()
            await pipeline.publish_status(ctx["redis"], bookmark)
            return None
        bookmark.attempts += 1
        changed = bookmark.status != status
        if changed:
            pipeline.set_status(bookmark, status)
        await session.commit()
    if changed:
        await pipeline.publish_status(ctx["redis"], bookmark)
    return bookmark


async def fetch_bookmark(ctx: dict[str, Any], bookmark_id: str, run: int) -> str:
    bookmark = await _begin(ctx, bookmark_id, run, (PENDING, FETCHING), FETCHING)
    if bookmark is None:
        return "skipped"
    settings = ctx["settings"]
    if is_upload(bookmark.url):
        # An uploaded file: nothing to fetch, the next stage reads the kept file.
        if documents.find_archive(settings.data_dir, bookmark.user_id, bookmark.id) is None:
            return await _fail(
                ctx,
                bookmark_id,
                run,
                "file_missing",
                "The uploaded file is no longer on the server; upload it again.",
            )
        return await _fetched(ctx, bookmark_id, run, None, None)
    try:
        result = await fetch(ctx["http"], bookmark.url, settings)
    except FetchError as exc:
        if exc.transient:
            return await _transient(ctx, bookmark_id, run, exc.code, exc.message, exc.retry_after)
        return await _fail(ctx, bookmark_id, run, exc.code, exc.message)
    if result.document is not None and result.document_kind:
        # A PDF or Markdown file is kept as the bookmark's archive; its text is read from there.
        await asyncio.to_thread(
            documents.write_archive,
            settings.data_dir,
            bookmark.user_id,
            bookmark.id,
            result.document_kind,
            result.document,
        )
    else:  # a page that was a file before, and is a web page now
        await asyncio.to_thread(
            documents.remove_archives, settings.data_dir, bookmark.user_id, bookmark.id
        )
    return await _fetched(ctx, bookmark_id, run, result.html or None, result.url)


async def _fetched(
    ctx: dict[str, Any], bookmark_id: str, run: int, html: str | None, final_url: str | None
) -> str:
    async with _session(ctx) as session:
        current = await _current(session, bookmark_id, run)
        if current is None:
            return "stale"
        current.html = html
        current.final_url = final_url
        pipeline.set_status(current, EXTRACTING)
        await session.commit()
    await pipeline.enqueue(ctx["redis"], "extract_bookmark", bookmark_id, run)
    await pipeline.publish_status(ctx["redis"], current)
    return "fetched"


async def extract_bookmark(ctx: dict[str, Any], bookmark_id: str, run: int) -> str:
    bookmark = await _begin(ctx, bookmark_id, run, (PENDING, EXTRACTING), EXTRACTING, Bookmark.html)
    if bookmark is None:
        return "skipped"
    if not bookmark.html:
        kept = documents.find_archive(ctx["settings"].data_dir, bookmark.user_id, bookmark.id)
        if kept is not None:  # a PDF, Markdown or text file
            return await _extract_document(ctx, bookmark_id, run, *kept)
        # Fetched HTML is dropped after extraction; a re-run of this stage fetches again.
        async with _session(ctx) as session:
            current = await _current(session, bookmark_id, run)
            if current is None:
                return "stale"
            pipeline.set_status(current, FETCHING)
            await session.commit()
        await pipeline.enqueue(ctx["redis"], "fetch_bookmark", bookmark_id, run)
        return "refetch"
    base_url = bookmark.final_url or bookmark.url
    try:
        page = await asyncio.to_thread(extract, bookmark.html, base_url)
    except ExtractionError as exc:
        return await _fail(ctx, bookmark_id, run, f"extract_{exc.code}", exc.message)
    async with _session(ctx) as session:
        current = await _current(session, bookmark_id, run)
        if current is None:
            return "stale"
        current.page_title = page.title
        current.description = page.description
        current.canonical_url = page.canonical_url
        current.site_name = page.site_name
        current.author = page.author
        current.published_at = page.published_at
        current.language = page.language
        current.image_url = page.image
        current.favicon_url = page.favicon
        current.text = page.text
        current.content_html = page.html
        current.word_count = page.word_count
        current.reading_time_minutes = page.reading_time_minutes
        current.content_hash = page.content_hash
        current.quality = page.quality
        current.page_metadata = page.metadata
        if not current.html_captured:
            current.html = None  # keep the database lean; a refresh fetches again
        pipeline.set_status(current, EMBEDDING)
        await session.commit()
    if ctx["settings"].archive_pages:
        # Its archive is made beside the rest of the pipeline, from the page as read here.
        staged = archive_store.staged_file(
            ctx["settings"].data_dir, bookmark.user_id, bookmark.id, run
        )
        try:
            await asyncio.to_thread(archive_store.stage, staged, bookmark.html)
        except OSError:  # no archive this time; the page itself is fine
            log.warning("page not staged for its archive", exc_info=True)
        else:
            await pipeline.enqueue(ctx["redis"], "archive_page", bookmark_id, run)
    if ctx["settings"].thumbnails:  # the card's picture, beside the rest (app/thumbnails)
        await pipeline.enqueue(ctx["redis"], "make_thumbnail", bookmark_id, run)
    await pipeline.enqueue(ctx["redis"], "embed_bookmark", bookmark_id, run)
    await pipeline.publish_status(ctx["redis"], current)
    return "extracted"


async def _extract_document(
    ctx: dict[str, Any], bookmark_id: str, run: int, path: Any, kind: str
) -> str:
    settings = ctx["settings"]
    # Within the job's own time limit, so a slow PDF fails with its reason, not a lost job.
    timeout = min(settings.pdf_timeout_seconds, settings.pipeline_job_timeout_seconds * 0.75)
    try:
        doc = await documents.read_document(
            path, kind, max_pages=settings.pdf_max_pages, seconds=timeout
        )
    except DocumentError as exc:
        return await _fail(ctx, bookmark_id, run, exc.code, exc.message)
    words = len(doc.text.split())
    async with _session(ctx) as session:
        current = await _current(session, bookmark_id, run)
        if current is None:
            return "stale"
        current.page_title = doc.title
        current.description = doc.metadata.get("subject")
        # What a web page at this address had before says nothing about the file.
        current.canonical_url = current.site_name = current.language = None
        current.published_at = current.image_url = current.favicon_url = None
        current.quality = None
        current.author = doc.author
        current.text = doc.text
        current.content_html = doc.html
        current.word_count = words
        current.reading_time_minutes = max(1, math.ceil(words / WORDS_PER_MINUTE)) if words else 0
        current.content_hash = content_hash(doc.text)
        current.page_metadata = doc.metadata
        pipeline.set_status(current, EMBEDDING)
        await session.commit()
    await pipeline.enqueue(ctx["redis"], "embed_bookmark", bookmark_id, run)
    await pipeline.publish_status(ctx["redis"], current)
    return "extracted"


def upsert_vector(bookmark: Bookmark, vector: list[float]) -> Any:
    """The statement that stores the bookmark's vector, or replaces it (a refresh)."""
    stmt = pg_insert(BookmarkVector).values(
        bookmark_id=bookmark.id, user_id=bookmark.user_id, embedding=vector
    )
    return stmt.on_conflict_do_update(
        index_elements=[BookmarkVector.user_id, BookmarkVector.bookmark_id],
        set_={"embedding": stmt.excluded.embedding},
    )


async def embed_bookmark(ctx: dict[str, Any], bookmark_id: str, run: int) -> str:
    bookmark = await _begin(ctx, bookmark_id, run, (EMBEDDING,), EMBEDDING, Bookmark.text)
    if bookmark is None:
        return "skipped"
    text = bookmark_text(bookmark.title or bookmark.page_title, bookmark.description, bookmark.text)
    if not text:
        return await _fail(ctx, bookmark_id, run, "no_text", "The page has no text to index.")
    vector = await embed_cached(ctx["embedder"], ctx["redis"], text)
    async with _session(ctx) as session:
        current = await _current(session, bookmark_id, run)
        if current is None:
            return "stale"
        await session.execute(upsert_vector(current, vector.tolist()))
        pipeline.set_status(current, READY)
        await analysis_jobs.after_embed(ctx, session, current)
        await session.commit()
    await pipeline.publish_status(ctx["redis"], current)
    await analysis_jobs.enqueue_analysis(ctx["redis"], bookmark_id, run)
    await duplicate_jobs.enqueue_check(
        ctx["redis"], bookmark_id, run, **pipeline.queue_for(current)
    )
    return "ready"


__all__ = ["embed_bookmark", "extract_bookmark", "fetch_bookmark"]


async def sweep(ctx: dict[str, Any], batch: int = 1000, limit: int = 100_000) -> int:
    """Queue again every bookmark left in a non-final state for too long: a worker killed
    mid-job, Redis down when it was saved, a job lost. Jobs still queued are not duplicated
    (same job id), so this is safe to run often. Returns how many were looked at."""
    from datetime import timedelta

    from sqlalchemy import tuple_

    from app.bookmarks.models import ACTIVE_STATUSES
    from app.db import utcnow

    settings = ctx["settings"]
    cutoff = utcnow() - timedelta(seconds=settings.sweep_stale_seconds)
    seen = 0
    after: tuple[Any, uuid.UUID] | None = None
    while seen < limit:
        query = (
            select(Bookmark)
            .where(Bookmark.status.in_(ACTIVE_STATUSES), Bookmark.status_changed_at < cutoff)
            .order_by(Bookmark.status_changed_at, Bookmark.id)
            .limit(batch)
        )
        if after is not None:
            query = query.where(tuple_(Bookmark.status_changed_at, Bookmark.id) > after)
        async with ctx["sessionmaker"]() as session:
            await bind_system(session)  # every user's stalled pages
            rows = list(await session.scalars(query))
        if not rows:
            break
        for bookmark in rows:
            function = pipeline.job_for(bookmark)
            if function and not await pipeline.enqueue(
                ctx["redis"], function, bookmark.id, bookmark.run, **pipeline.queue_for(bookmark)
            ):
                return seen  # Redis is down again: try on the next pass
        seen += len(rows)
        after = (rows[-1].status_changed_at, rows[-1].id)
    if seen:
        log.info("sweeper re-queued stale bookmarks", extra={"count": seen})
    return seen
