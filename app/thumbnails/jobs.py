"""The worker's card pictures: after a page is extracted (app.bookmarks.jobs queues it), fetch
its image (og:image / twitter:image, else the first large image of its main content, chosen
by the extraction) through the SSRF-safe fetcher with a size cap, and keep a small WebP of
it (app/thumbnails/images.py). Like the archive, it runs beside the pipeline: a page is ready
whether or not its picture is.

The sweeper queues what is missing: bookmarks that are ready but have no picture for their
current run (saved before pictures existed, or their job was lost) and failed ones whose
failure may pass (a timeout, a 503), a few times with growing waits.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert

from app.bookmarks import pipeline
from app.bookmarks.models import Bookmark
from app.db import bind_system, bind_user, utcnow
from app.events import service as events
from app.extraction.fetch import FetchError, fetch_asset
from app.thumbnails import images, service
from app.thumbnails.models import FAILED, NONE, READY, Thumbnail

log = logging.getLogger("fuze.thumbnails")

MB = 1024 * 1024
MAX_ATTEMPTS = 4  # a failure that may pass is tried this many times in all
EVENT = "bookmark.thumbnail"
# Content types an image server may send for an image (beside image/*).
UNTYPED = ("", "application/octet-stream", "binary/octet-stream")


def retry_wait(settings: Any, attempts: int) -> float:
    """How long the sweeper leaves a failure that may pass before trying it again."""
    return max(settings.sweep_stale_seconds, 60.0) * 4 ** (attempts - 1)


async def make_thumbnail(ctx: dict[str, Any], bookmark_id: str, run: int) -> str:
    settings = ctx["settings"]
    started = time.perf_counter()
    async with ctx["sessionmaker"]() as session:
        await bind_system(session)
        bookmark = await session.get(Bookmark, uuid.UUID(bookmark_id))
        if bookmark is None:
            return "gone"
        if bookmark.run != run:
            return "stale"
        user_id, source = bookmark.user_id, bookmark.image_url
        await bind_user(session, user_id)
        current = await session.get(Thumbnail, bookmark.id)
        previous = (current.status, current.source_url, current.attempts) if current else None
    values: dict[str, Any] = {"run": run, "source_url": source, "error": None, "data": None,
                              "etag": None, "width": None, "height": None, "retry_at": None,
                              "attempts": 0, "made_at": utcnow()}  # fmt: skip
    if previous and previous[0] == READY and previous[1] == source and source:
        # Processed again, with the same image: the picture stands.
        values = {"run": run}
        outcome = "unchanged"
    elif not source:
        values["status"] = NONE
        outcome = NONE
    else:
        attempts = (previous[2] if previous and previous[1] == source else 0) + 1
        try:
            cap = int(settings.thumbnail_max_mb * MB)
            asset = await fetch_asset(ctx["http"], source, settings, cap)
            media_type = (asset.media_type or "").lower()
            if not media_type.startswith("image/") and media_type not in UNTYPED:
                raise images.ThumbnailError(f"The address gave {media_type}, not an image.")
            made = await asyncio.to_thread(images.make, asset.body, settings.thumbnail_max_pixels)
        except FetchError as exc:
            reason = exc.message
            if exc.code == "too_large":  # the fetcher's sentence speaks of a page
                cap_mb = f"{settings.thumbnail_max_mb:g} MB"
                reason = f"The image is larger than the {cap_mb} Fuze fetches for a picture."
            values.update(status=FAILED, error=reason[:500], attempts=attempts)
            if exc.transient and attempts < MAX_ATTEMPTS:
                values["retry_at"] = utcnow() + timedelta(seconds=retry_wait(settings, attempts))
        except images.ThumbnailError as exc:
            values.update(status=FAILED, error=str(exc)[:500], attempts=attempts)
        except Exception as exc:  # unforeseen: said, and tried again later a few times
            log.warning("thumbnail failed", exc_info=True, extra={"bookmark_id": bookmark_id})
            values.update(status=FAILED, attempts=attempts,
                          error=f"The picture could not be made ({type(exc).__name__}).")  # fmt: skip
            if attempts < MAX_ATTEMPTS:
                values["retry_at"] = utcnow() + timedelta(seconds=retry_wait(settings, attempts))
        else:
            values.update(status=READY, data=made.webp, etag=made.etag, width=made.width,
                          height=made.height)  # fmt: skip
        outcome = values["status"]
    async with ctx["sessionmaker"]() as session:
        await bind_user(session, user_id)
        if await session.get(Bookmark, uuid.UUID(bookmark_id)) is None:  # deleted meanwhile
            return "gone"
        row = {"bookmark_id": uuid.UUID(bookmark_id), "user_id": user_id, **values}
        row.setdefault("status", previous[0] if previous else NONE)
        statement = insert(Thumbnail).values(**row)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[Thumbnail.bookmark_id],
                set_={k: statement.excluded[k] for k in values},
                # A job of an older run never overwrites a newer run's picture.
                where=Thumbnail.run <= run,
            )
        )
        await session.commit()
    if outcome != "unchanged":
        signed = service.token(settings, user_id)
        state = (values["status"], values.get("etag"))
        data = {"id": bookmark_id, **service.fields(state, uuid.UUID(bookmark_id), signed)}
        await events.publish(ctx["redis"], user_id, EVENT, data)
    log.info(
        "thumbnail %s", outcome,
        extra={"bookmark_id": bookmark_id, "error": values.get("error"),
               "bytes": len(values.get("data") or b""),
               "seconds": round(time.perf_counter() - started, 3)},
    )  # fmt: skip
    return outcome


# Ready bookmarks without a picture for their current run, and failures due another try.
_MISSING = text("""
    SELECT b.id, b.run FROM bookmarks b
    LEFT JOIN thumbnails t ON t.bookmark_id = b.id
    WHERE b.status = 'ready'
      AND (t.bookmark_id IS NULL OR t.run < b.run
           OR (t.status = 'failed' AND t.retry_at <= now()))
    LIMIT :batch
""")


async def sweep(ctx: dict[str, Any], batch: int = 500) -> int:
    """Queues a picture for up to `batch` bookmarks that lack one (this is also how the
    bookmarks saved before pictures existed get theirs, a batch a pass). Jobs still queued
    are not duplicated (same job id). Returns how many were queued."""
    if not ctx["settings"].thumbnails:
        return 0
    async with ctx["sessionmaker"]() as session:
        await bind_system(session)
        rows = (await session.execute(_MISSING, {"batch": batch})).all()
    queued = 0
    for bookmark_id, run in rows:
        if not await pipeline.enqueue(ctx["redis"], "make_thumbnail", bookmark_id, run):
            break  # Redis is down: the next pass
        queued += 1
    if rows:
        log.info("thumbnails swept", extra={"found": len(rows), "queued": queued})
    return queued
