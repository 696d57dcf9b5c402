"""The worker's feed jobs: `poll_feed` reads one feed (conditionally) and saves its new
items; `schedule` (from the sweeper loop) queues the feeds that are due."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from app.bookmarks import service as bookmarks_service
from app.bookmarks.schemas import BookmarkCreate
from app.db import bind_system, bind_user, utcnow
from app.extraction.fetch import FetchError, fetch_feed
from app.feeds import service
from app.feeds.models import Feed, FeedEntry
from app.imports.jobs import send_jobs
from app.users.models import User

log = logging.getLogger("fuze.feeds")

# A new subscription saves its newest items only, not the feed's whole history.
FIRST_ITEMS = 10


async def poll_feed(ctx: dict[str, Any], feed_id: str) -> str:
    settings = ctx["settings"]
    async with ctx["sessionmaker"]() as session:
        await bind_system(session)
        feed = await session.get(Feed, uuid.UUID(feed_id))
        if feed is None or not feed.active:
            return "gone"
        user_id = feed.user_id
        url, etag, modified = feed.url, feed.etag, feed.last_modified
        first = feed.last_checked_at is None
    outcome, error, parsed, got = "ok", None, None, None
    try:
        got = await fetch_feed(ctx["http"], url, settings, etag=etag, last_modified=modified)
        if got.body is None:
            outcome = "not_modified"
        else:
            parsed = service.parse(got.body, got.url)
    except FetchError as exc:
        outcome, error = "error", exc.message
    except ValueError as exc:
        outcome, error = "error", str(exc)
    saved = 0
    async with ctx["sessionmaker"]() as session:
        await bind_user(session, user_id)
        feed = await session.get(Feed, uuid.UUID(feed_id), with_for_update=True)
        if feed is None:
            return "gone"
        if parsed is not None and parsed.items:
            keys = [i.key for i in parsed.items]
            seen = set(
                await session.scalars(
                    select(FeedEntry.key).where(
                        FeedEntry.feed_id == feed.id, FeedEntry.key.in_(keys)
                    )
                )
            )
            new = [i for i in parsed.items if i.key not in seen]
            if first:
                new = new[:FIRST_ITEMS]
            user = await session.get_one(User, user_id)
            items = []
            for item in new:
                try:
                    data = BookmarkCreate(url=item.url, title=item.title, tags=feed.tags or None)
                except ValueError:
                    continue
                items.append(bookmarks_service.BulkItem(data))
            results = await bookmarks_service.create_many(
                session, settings, user, items, source="feed"
            )
            saved = sum(1 for r in results if r.created)
            await session.execute(
                insert(FeedEntry)
                .values(
                    [
                        {"feed_id": feed.id, "key": k, "user_id": user_id, "seen_at": utcnow()}
                        for k in keys
                    ]
                )
                .on_conflict_do_nothing()
            )
        if parsed is not None:
            feed.title = feed.title or parsed.title
            feed.site_url = parsed.site_url or feed.site_url
        if got is not None and outcome != "error":
            # Not after an error: the next poll must read the body again, or a page that is
            # not a feed would answer 304 and its error would turn into "not modified".
            feed.etag, feed.last_modified = got.etag, got.last_modified
        now = utcnow()
        feed.last_status, feed.last_error, feed.last_checked_at = outcome, error, now
        feed.items_saved += saved
        feed.next_check_at = now + timedelta(minutes=feed.interval_minutes)
        await session.commit()
        await send_jobs(ctx["redis"], session.info.pop("pending_jobs", []))
    return f"{outcome}: {saved} saved"


async def schedule(ctx: dict[str, Any], limit: int = 500) -> int:
    """Queue every active feed whose time has come (one job per due time)."""
    async with ctx["sessionmaker"]() as session:
        await bind_system(session)
        due = (
            await session.execute(
                select(Feed.id, Feed.next_check_at)
                .where(Feed.active.is_(True), Feed.next_check_at <= utcnow())
                .order_by(Feed.next_check_at)
                .limit(limit)
            )
        ).all()
    for feed_id, at in due:
        try:
            await ctx["redis"].enqueue_job(
                "poll_feed", str(feed_id), _job_id=f"poll_feed:{feed_id}:{int(at.timestamp())}"
            )
        except Exception:
            log.warning("could not queue a feed", exc_info=True)
            break
    return len(due)
