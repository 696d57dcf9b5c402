"""The worker's archive job: after a page's text is extracted (app.bookmarks.jobs stages the
page it read), build its self-contained copy (app/archives/build.py), keep it compressed
(app/archives/store.py) and record what it holds. It runs beside the rest of the pipeline: a
page is ready (searchable, recommended) whether or not its archive is done."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from app.archives import images, store
from app.archives.build import Limits, build_archive
from app.archives.models import PageArchive
from app.bookmarks import pipeline
from app.bookmarks.models import Bookmark
from app.db import bind_system, bind_user
from app.extraction.fetch import fetch_asset
from app.users.models import User

log = logging.getLogger("fuze.archives")

MB = 1024 * 1024


def quota_of(settings: Any, user: User) -> int:
    """The bytes a user's archives may take (0: no limit)."""
    if user.archive_quota_bytes is not None:
        return int(user.archive_quota_bytes)
    return int(settings.max_archive_bytes_per_user)


async def archive_page(ctx: dict[str, Any], bookmark_id: str, run: int) -> str:
    settings = ctx["settings"]
    started = time.perf_counter()
    async with ctx["sessionmaker"]() as session:
        await bind_system(session)
        bookmark = await session.get(Bookmark, uuid.UUID(bookmark_id))
        if bookmark is None:
            return "gone"
        staged = store.staged_file(settings.data_dir, bookmark.user_id, bookmark.id, run)
        if bookmark.run != run or not staged.is_file():
            staged.unlink(missing_ok=True)
            return "stale"
        user_id, source = bookmark.user_id, bookmark.final_url or bookmark.url
        await bind_user(session, user_id)
        user = await session.get(User, user_id)
        used = await session.scalar(
            select(func.coalesce(func.sum(PageArchive.stored_bytes), 0)).where(
                PageArchive.user_id == user_id
            )
        )
    quota = quota_of(settings, user) if user is not None else 0
    row = PageArchive(
        id=uuid.uuid4(), user_id=user_id, bookmark_id=uuid.UUID(bookmark_id), source_url=source,
        size_bytes=0, stored_bytes=0, assets=0, failures=[],
    )  # fmt: skip
    try:
        if quota and used >= quota:
            row.status = "skipped"
            row.error = "Your archives have reached their storage limit; delete some to make room."
        else:
            html = await asyncio.to_thread(staged.read_text, "utf-8")

            async def get(url: str, max_bytes: int) -> Any:
                return await fetch_asset(ctx["http"], url, settings, max_bytes)

            limits = Limits(
                asset_bytes=int(settings.archive_asset_max_mb * MB),
                total_bytes=int(settings.archive_max_mb * MB),
            )
            built = await build_archive(html, source, get, limits)
            path = store.archive_file(settings.data_dir, user_id, bookmark_id, row.id)
            row.stored_bytes = await asyncio.to_thread(store.write, path, built.html)
            if built.images:  # for the reader view; on disk, so counted in stored_bytes
                pictures = images.images_file(settings.data_dir, user_id, bookmark_id, row.id)
                await asyncio.to_thread(images.write, pictures, built.images)
                row.stored_bytes += pictures.stat().st_size
            row.size_bytes = len(built.html)
            row.assets = built.assets
            row.failures = built.failed
            row.status = "ready"
    except Exception as exc:  # one failed archive, with its reason; the bookmark is unaffected
        log.warning("archive failed", exc_info=True, extra={"bookmark_id": bookmark_id})
        row.status = "failed"
        row.error = f"The archive could not be made: {type(exc).__name__}: {exc}"[:500]
    # Cancelled (the job's time ran out, the worker stopping) goes past both: the staged
    # page stays for arq's retry.
    await asyncio.to_thread(staged.unlink, True)
    async with ctx["sessionmaker"]() as session:
        await bind_user(session, user_id)
        if await session.get(Bookmark, uuid.UUID(bookmark_id)) is None:  # deleted meanwhile
            await asyncio.to_thread(store.remove_all, settings.data_dir, user_id, bookmark_id)
            return "gone"
        session.add(row)
        await session.commit()
    log.info(
        "archive %s", row.status,
        extra={"bookmark_id": bookmark_id, "assets": row.assets, "failed": len(row.failures),
               "bytes": row.size_bytes, "stored": row.stored_bytes,
               "seconds": round(time.perf_counter() - started, 3)},
    )  # fmt: skip
    return row.status


# A staged page older than this is given up on and removed (its bookmark has been processed
# again since, or its job failed every try).
STAGED_MAX_SECONDS = 24 * 3600


def _staged_pages(data_dir: Path, older_than: float) -> list[tuple[Path, float, str, int]]:
    """(path, age in seconds, bookmark id, run) of each staged page older than `older_than`."""
    now = time.time()
    found = []
    for path in (data_dir / "archives").glob("*/pages/*/page-*.html"):
        try:
            age = now - path.stat().st_mtime
            run = int(path.stem.removeprefix("page-"))
            bookmark_id = str(uuid.UUID(path.parent.name))
        except (OSError, ValueError):
            continue
        if age >= older_than:
            found.append((path, age, bookmark_id, run))
    return found


async def sweep_staged(ctx: dict[str, Any]) -> int:
    """Staged pages whose archive job never ran (Redis was down when the extract stage queued
    it, or the worker stopped in between) are queued again; the job archives them, or removes
    them when their bookmark is gone or was processed again since. One older than a day is
    removed. Jobs still queued are not duplicated (same job id). Returns how many were
    queued."""
    settings = ctx["settings"]
    # Left alone while its job may still be queued or running (the sweeper's own bound).
    stale = max(settings.sweep_stale_seconds, settings.pipeline_job_timeout_seconds * 2)
    found = await asyncio.to_thread(_staged_pages, Path(settings.data_dir), stale)
    queued = 0
    for path, age, bookmark_id, run in found:
        if age >= STAGED_MAX_SECONDS:
            await asyncio.to_thread(path.unlink, True)
        elif await pipeline.enqueue(ctx["redis"], "archive_page", bookmark_id, run):
            queued += 1
        else:
            break  # Redis is down again: the next pass
    if found:
        log.info("staged pages swept", extra={"found": len(found), "queued": queued})
    return queued
