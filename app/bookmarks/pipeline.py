"""The stages of a saved page and how they chain: fetch -> extract -> embed (-> analyse).

A bookmark's status names the stage it is in (queued or running). Each stage is an arq job
keyed by (stage, bookmark id, run), so enqueueing it twice is harmless, and a refresh (a new
run) never collides with the jobs of an older one.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.bookmarks.models import (
    EMBEDDING,
    EXTRACTING,
    FAILED,
    FETCHING,
    PENDING,
    READY,
    Bookmark,
)
from app.db import enqueue_after_commit, utcnow
from app.events import service as events

JOB_FOR_STATUS = {
    FETCHING: "fetch_bookmark",
    EXTRACTING: "extract_bookmark",
    EMBEDDING: "embed_bookmark",
}


def job_id(function: str, bookmark_id: uuid.UUID | str, run: int) -> str:
    return f"{function}:{bookmark_id}:{run}"


def first_job(bookmark: Bookmark) -> str:
    # HTML captured by the extension: nothing to fetch.
    return "extract_bookmark" if bookmark.html_captured else "fetch_bookmark"


def job_for(bookmark: Bookmark) -> str | None:
    """The job that moves this bookmark on from its current status (None when final)."""
    if bookmark.status == PENDING:
        return first_job(bookmark)
    return JOB_FOR_STATUS.get(bookmark.status)


def set_status(
    bookmark: Bookmark, status: str, error_code: str | None = None, message: str | None = None
) -> None:
    bookmark.status = status
    bookmark.error_code = error_code
    bookmark.error_message = message
    bookmark.status_changed_at = utcnow()
    if status in (READY, FAILED):
        bookmark.processed_at = utcnow()


def start(session: AsyncSession, bookmark: Bookmark) -> None:
    """Queue the first stage once the request's transaction has committed."""
    function = first_job(bookmark)
    enqueue_after_commit(
        session,
        function,
        str(bookmark.id),
        bookmark.run,
        _job_id=job_id(function, bookmark.id, bookmark.run),
    )


# The lower-priority queue of imports (app/imports): their pages are processed there.
IMPORT_QUEUE = "fuze:imports"


def queue_for(bookmark: Bookmark) -> dict[str, Any]:
    """Where the sweeper re-queues a lost stage: an imported page back on the import queue."""
    return {"_queue_name": IMPORT_QUEUE} if bookmark.source == "import" else {}


def start_new(session: AsyncSession, bookmark_id: uuid.UUID, queue_name: str | None = None) -> None:
    """Queue the first stage of a bookmark just inserted without a captured page (bulk saves
    do not load the rows); `queue_name` sends it, and so every later stage, to another queue."""
    kwargs: dict[str, Any] = {"_job_id": job_id("fetch_bookmark", bookmark_id, 1)}
    if queue_name is not None:
        kwargs["_queue_name"] = queue_name
    enqueue_after_commit(session, "fetch_bookmark", str(bookmark_id), 1, **kwargs)


# arq takes jobs in score order (the time they are due). Later stages are queued as if due a
# little in the past, so a page already fetched is extracted and embedded before the next
# pages are fetched: the model starts early and stays busy instead of waiting for a whole
# burst (or import) to be fetched first.
STAGE_HEAD_START = {
    "extract_bookmark": timedelta(hours=1),
    "embed_bookmark": timedelta(hours=2),
}


async def enqueue(
    redis: Any, function: str, bookmark_id: uuid.UUID | str, run: int, **kw: Any
) -> bool:
    """Queue a stage now; False when Redis is unreachable (the sweeper will queue it later)."""
    head_start = STAGE_HEAD_START.get(function)
    if head_start and "_defer_until" not in kw and "_defer_by" not in kw:
        kw["_defer_until"] = datetime.now(UTC) - head_start
    try:
        await redis.enqueue_job(
            function, str(bookmark_id), run, _job_id=job_id(function, bookmark_id, run), **kw
        )
        return True
    except Exception:
        return False


def status_event(bookmark: Bookmark) -> dict[str, Any]:
    return {
        "id": str(bookmark.id),
        "status": bookmark.status,
        "error_code": bookmark.error_code,
        "error_message": bookmark.error_message,
        "title": bookmark.title or bookmark.page_title,
    }


async def publish_status(redis: Any, bookmark: Bookmark) -> None:
    await events.publish(redis, bookmark.user_id, "bookmark.status", status_event(bookmark))
