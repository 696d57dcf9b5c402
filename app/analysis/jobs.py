"""arq jobs of content analysis: the last stage of a saved page, after it is embedded.

`analyse_bookmark` asks Gemini, with the bookmark owner's own key, for a structured reading of
the page. No key: `skipped` (never `failed`). 429/5xx/timeouts/unusable answers: retried with
backoff up to `gemini_max_tries` calls, then `failed` with the reason. A refused key (400/401/
403): `failed` at once. Every status change is published on the user's events stream.
"""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from arq import Retry
from sqlalchemy import and_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from app import llm
from app.analysis import service
from app.analysis.models import FAILED, PENDING, READY, SKIPPED, ContentAnalysis
from app.analysis.schemas import PageAnalysis
from app.bookmarks.models import READY as BOOKMARK_READY
from app.bookmarks.models import Bookmark
from app.bookmarks.pipeline import job_id
from app.db import bind_system, bind_user, utcnow
from app.events import service as events
from app.projects import jobs as projects_jobs
from app.users.models import User

log = logging.getLogger("fuze.analysis")

# Waiting for a free Gemini slot is a Retry too, so arq's own limit is far above
# gemini_max_tries (which counts real calls, in the database).
ARQ_MAX_TRIES = 500


def backoff_seconds(attempt: int, retry_after: float | None, base: float) -> float:
    """base, 3x base, 9x base ... (at most 5 minutes), or longer if Gemini asked for it."""
    delay = min(base * 3 ** (attempt - 1), 300)
    return max(delay, min(retry_after or 0, 3600))


def busy_delay(job_try: int) -> float:
    """How long to wait for a free Gemini slot: longer the longer a job has waited, jittered
    so that a burst of one user's jobs does not wake at once."""
    return min(1.0 * 1.4 ** min(job_try, 12), 30.0) * random.uniform(0.6, 1.4)


def analysis_event(bookmark: Bookmark, row: ContentAnalysis) -> dict[str, Any]:
    status, code, message = service.state_of(bookmark, row)
    return {
        "id": str(bookmark.id),
        "status": bookmark.status,
        "analysis_status": status,
        "error_code": code,
        "error_message": message,
        "title": bookmark.title or bookmark.page_title,
    }


async def _publish(ctx: dict[str, Any], bookmark: Bookmark, row: ContentAnalysis) -> None:
    await events.publish(
        ctx["redis"], bookmark.user_id, "bookmark.analysis", analysis_event(bookmark, row)
    )


async def _load(
    session: AsyncSession, bookmark_id: str, run: int, *, text: bool = False
) -> tuple[Bookmark, ContentAnalysis] | None:
    """The bookmark and its analysis row (locked) if this run is current and still pending;
    the session works for the bookmark's owner from then on (row-level security, app.db)."""
    await bind_system(session)  # whose it is, read across users
    query = select(Bookmark).where(Bookmark.id == uuid.UUID(bookmark_id))
    if text:
        query = query.options(undefer(Bookmark.text))
    bookmark = await session.scalar(query)
    if bookmark is None or bookmark.run != run or bookmark.status != BOOKMARK_READY:
        return None
    await bind_user(session, bookmark.user_id)
    row = await session.get(ContentAnalysis, bookmark.id, with_for_update=True)
    if row is None or row.run != run:
        # Queued without a pending row (e.g. by an import, or before this stage existed).
        await service.mark_pending(session, bookmark)
        row = await session.get(
            ContentAnalysis, bookmark.id, with_for_update=True, populate_existing=True
        )
    assert row is not None
    if row.status != PENDING:
        return None
    return bookmark, row


async def _finish(
    ctx: dict[str, Any],
    bookmark_id: str,
    run: int,
    status: str,
    code: str | None = None,
    message: str | None = None,
    result: dict[str, Any] | None = None,
    content_hash: str | None = None,
    model: str | None = None,
) -> str:
    async with ctx["sessionmaker"]() as session:
        loaded = await _load(session, bookmark_id, run)
        if loaded is None:
            return "stale"
        bookmark, row = loaded
        row.status, row.error_code, row.error_message = status, code, message
        if result is not None:
            for name, value in result.items():
                setattr(row, name, value)
            row.model = model or ctx["settings"].gemini_model
            row.content_hash = content_hash
            row.analysed_at = utcnow()
        row.updated_at = utcnow()
        await session.commit()
    await _publish(ctx, bookmark, row)
    log.info(
        "bookmark analysed", extra={"bookmark_id": bookmark_id, "status": status, "code": code}
    )
    return status if code is None else f"{status}: {code}"


@dataclass
class _Ask:
    """What to ask Gemini for one bookmark, with whose key."""

    user_id: uuid.UUID
    provider: llm.Provider
    prompt: str
    tags: list[str]
    content_hash: str | None


Outcome = tuple[str, str | None, str | None]  # (status, error code, message)


async def _prepare(ctx: dict[str, Any], bookmark_id: str, run: int) -> _Ask | Outcome | None:
    """What to ask Gemini; or the outcome without asking; or None when the job is stale."""
    settings = ctx["settings"]
    async with ctx["sessionmaker"]() as session:
        loaded = await _load(session, bookmark_id, run, text=True)
        if loaded is None:
            return None
        bookmark, row = loaded
        user = await session.get_one(User, bookmark.user_id)
        provider = llm.provider_of(settings, user)
        if provider is None:
            return (
                SKIPPED,
                "no_gemini_key",
                "Add your Gemini API key (or another AI provider) in Settings to get a summary, "
                "tags and more.",
            )
        if not isinstance(provider, llm.Provider):
            return (
                FAILED,
                "gemini_key_unreadable",
                "Your stored AI key can no longer be read (the server's secret changed); "
                "store it again.",
            )
        if not (bookmark.text or "").strip():
            return SKIPPED, "no_text", "The page has no text to analyse."
        known = await service.refused(ctx["redis"], user.id, provider.ident)
        if known is not None:
            return FAILED, *known
        if (
            row.analysed_at is not None
            and row.content_hash == bookmark.content_hash
            and row.model == provider.model
        ):
            # A refresh of a page whose text did not change: the analysis still holds, and
            # the user's quota is spared.
            return READY, None, None
        tags = await service.user_tags(session, user.id)
        prompt = service.page_prompt(bookmark, tags, settings.gemini_analysis_max_chars)
        await session.commit()  # the pending row, if _load made it
        return _Ask(user.id, provider, prompt, tags, bookmark.content_hash)


async def _start_attempt(ctx: dict[str, Any], bookmark_id: str, run: int) -> int | Outcome | None:
    """Count a Gemini call (before making it, so a crash counts too): its number; the outcome
    when the tries are used up; None when the job is stale."""
    async with ctx["sessionmaker"]() as session:
        loaded = await _load(session, bookmark_id, run)
        if loaded is None:
            return None
        _, row = loaded
        if row.attempts >= ctx["settings"].gemini_max_tries:
            return (
                FAILED,
                row.error_code or "gemini_unavailable",
                f"Analysis kept failing (gave up after {row.attempts} tries).",
            )
        row.attempts += 1
        await session.commit()
        return row.attempts


async def analyse_bookmark(ctx: dict[str, Any], bookmark_id: str, run: int) -> str:
    settings = ctx["settings"]
    ask = await _prepare(ctx, bookmark_id, run)
    if ask is None:
        return "stale"
    if isinstance(ask, tuple):
        return await _finish(ctx, bookmark_id, run, *ask)

    job_timeout = settings.pipeline_job_timeout_seconds
    token = await service.try_acquire_slot(
        ctx["redis"], ask.user_id, service.background_limit(settings), job_timeout + 5
    )
    if token is None:  # the user's other analyses hold every slot: wait, without using a try
        raise Retry(defer=busy_delay(ctx.get("job_try", 1)))
    try:
        attempt = await _start_attempt(ctx, bookmark_id, run)
        if attempt is None:
            return "stale"
        if isinstance(attempt, tuple):
            return await _finish(ctx, bookmark_id, run, *attempt)
        try:
            answer = await service.generate(
                settings,
                ask.provider,
                system=service.PAGE_SYSTEM,
                prompt=ask.prompt,
                schema=PageAnalysis,
                time_limit=max(1.0, min(settings.gemini_timeout_seconds, job_timeout - 3)),
            )
        except service.GeminiError as exc:
            if not exc.transient:
                if exc.code in ("gemini_key_invalid", "gemini_forbidden"):
                    await service.remember_refused(
                        ctx["redis"], ask.user_id, ask.provider.ident, exc
                    )
                return await _finish(ctx, bookmark_id, run, FAILED, exc.code, exc.message)
            if attempt >= settings.gemini_max_tries:
                return await _finish(
                    ctx,
                    bookmark_id,
                    run,
                    FAILED,
                    exc.code,
                    f"{exc.message} (gave up after {attempt} tries)",
                )
            delay = backoff_seconds(attempt, exc.retry_after, settings.pipeline_retry_base_seconds)
            await _note_retry(ctx, bookmark_id, run, exc, delay)
            raise Retry(defer=delay) from exc
    finally:
        await service.release_slot(ctx["redis"], ask.user_id, token)
    result = service.page_result(answer, ask.tags, settings.gemini_max_new_tags)
    return await _finish(
        ctx, bookmark_id, run, READY, result=result, content_hash=ask.content_hash,
        model=ask.provider.model,
    )  # fmt: skip


async def _note_retry(
    ctx: dict[str, Any], bookmark_id: str, run: int, exc: service.GeminiError, delay: float
) -> None:
    """Still pending, with the reason it is waiting (shown on the bookmark)."""
    async with ctx["sessionmaker"]() as session:
        loaded = await _load(session, bookmark_id, run)
        if loaded is None:
            return
        bookmark, row = loaded
        row.error_code = exc.code
        row.error_message = f"{exc.message} Retrying in {max(1, round(delay))} s."
        await session.commit()
    await _publish(ctx, bookmark, row)


async def enqueue_analysis(redis: Any, bookmark_id: uuid.UUID | str, run: int, **kw: Any) -> bool:
    try:
        await redis.enqueue_job(
            "analyse_bookmark",
            str(bookmark_id),
            run,
            _job_id=job_id("analyse_bookmark", bookmark_id, run),
            **kw,
        )
        return True
    except Exception:  # Redis down: the sweeper queues it later (the row is pending)
        log.warning("could not queue an analysis", exc_info=True)
        return False


async def after_embed(ctx: dict[str, Any], session: AsyncSession, bookmark: Bookmark) -> None:
    """Called by the embed stage inside its commit: the analysis becomes pending with the
    bookmark becoming ready, so a lost job is found by the sweeper."""
    await service.mark_pending(session, bookmark)


async def analyse_backlog(ctx: dict[str, Any], user_id: str) -> int:
    """Once a key is stored: analyse the user's ready bookmarks that were skipped (no key),
    failed (e.g. a refused key) or never analysed. Jobs are spread out over time at the
    user's Gemini concurrency, so a large library does not crowd the queue."""
    settings = ctx["settings"]
    uid = uuid.UUID(user_id)
    async with ctx["sessionmaker"]() as session:
        await bind_user(session, uid)
        user = await session.get(User, uid)
        if user is None or not llm.has_ai(settings, user):
            return 0
        rows = (
            await session.execute(
                select(Bookmark.id, Bookmark.run)
                .outerjoin(ContentAnalysis, ContentAnalysis.bookmark_id == Bookmark.id)
                .where(*service.in_backlog(uid))
                .order_by(Bookmark.saved_at.desc())
                .limit(service.BACKLOG_LIMIT)
            )
        ).all()
        if not rows:
            await session.commit()
            await projects_jobs.queue_intents(ctx, uid)
            return 0
        now = utcnow()
        for start in range(0, len(rows), 1000):
            chunk = rows[start : start + 1000]
            stmt = insert(ContentAnalysis).values(
                [
                    {
                        "bookmark_id": bid,
                        "user_id": uid,
                        "status": PENDING,
                        "run": run,
                        "attempts": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for bid, run in chunk
                ]
            )
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[ContentAnalysis.bookmark_id],
                    set_={
                        "status": PENDING,
                        "run": stmt.excluded.run,
                        "attempts": 0,
                        "error_code": None,
                        "error_message": None,
                        "updated_at": now,
                    },
                )
            )
        await session.commit()
    await projects_jobs.queue_intents(ctx, uid)
    spacing = 2.0 / service.background_limit(settings)
    for i, (bid, run) in enumerate(rows):
        if not await enqueue_analysis(
            ctx["redis"], bid, run, _defer_by=timedelta(seconds=i * spacing)
        ):
            break  # the sweeper takes the rest
    await events.publish(
        ctx["redis"], uid, "analysis.backlog", {"queued": len(rows), "user_id": user_id}
    )
    log.info("analysis backlog queued", extra={"user_id": user_id, "count": len(rows)})
    return len(rows)


async def sweep(ctx: dict[str, Any], limit: int = 1000) -> int:
    """Queue again analyses left pending for too long (a lost job, a killed worker, Redis
    down when the stage was queued). Jobs still queued are not duplicated (same job id)."""
    cutoff = utcnow() - timedelta(seconds=ctx["settings"].sweep_stale_seconds)
    async with ctx["sessionmaker"]() as session:
        await bind_system(session)  # every user's pending analyses
        rows = (
            await session.execute(
                select(ContentAnalysis.bookmark_id, ContentAnalysis.run)
                .join(
                    Bookmark,
                    and_(
                        Bookmark.id == ContentAnalysis.bookmark_id,
                        Bookmark.run == ContentAnalysis.run,
                        Bookmark.status == BOOKMARK_READY,
                    ),
                )
                .where(ContentAnalysis.status == PENDING, ContentAnalysis.updated_at < cutoff)
                .order_by(ContentAnalysis.updated_at)
                .limit(limit)
            )
        ).all()
    for bookmark_id, run in rows:
        if not await enqueue_analysis(ctx["redis"], bookmark_id, run):
            break
    if rows:
        log.info("sweeper re-queued stale analyses", extra={"count": len(rows)})
    return len(rows) + await projects_jobs.sweep_intents(ctx)


__all__ = ["analyse_backlog", "analyse_bookmark", "sweep"]
