"""The worker's duplicate jobs: check a page once it is ready (queued by the embed stage), and
scan a whole library on demand, with its progress in Redis for GET /api/duplicates/scan."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from app.bookmarks.models import READY, Bookmark
from app.db import bind_user, get_for_owner
from app.duplicates import service
from app.duplicates.schemas import ScanOut

log = logging.getLogger("fuze.duplicates")

SCAN_TTL_SECONDS = 3600  # a scan's progress is forgotten this long after it last moved


def scan_key(user_id: uuid.UUID | str) -> str:
    return f"fuze:duplicates:scan:{user_id}"


def check_job_id(bookmark_id: uuid.UUID | str, run: int) -> str:
    return f"find_duplicates:{bookmark_id}:{run}"


async def enqueue_check(redis: Any, bookmark_id: uuid.UUID | str, run: int, **kw: Any) -> bool:
    """Queue the check of a page that just became ready; False when Redis is down (the page
    is found by the next scan instead)."""
    try:
        await redis.enqueue_job(
            "find_duplicates", str(bookmark_id), run, _job_id=check_job_id(bookmark_id, run), **kw
        )
        return True
    except Exception:
        log.warning("could not queue a duplicate check", exc_info=True)
        return False


async def find_duplicates(ctx: dict[str, Any], bookmark_id: str, run: int) -> str:
    async with ctx["sessionmaker"]() as session:
        bookmark = await get_for_owner(session, Bookmark, uuid.UUID(bookmark_id))
        if bookmark is None or bookmark.run != run or bookmark.status != READY:
            return "skipped"
        found = await service.check(session, bookmark.user_id, [bookmark.id])
        await session.commit()
    return f"found {found}"


async def _progress(redis: Any, user_id: uuid.UUID | str, **fields: Any) -> None:
    key = scan_key(user_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping={k: str(v) for k, v in fields.items()})
        pipe.expire(key, SCAN_TTL_SECONDS)
        await pipe.execute()


async def scan_progress(redis: Any, user_id: uuid.UUID | str) -> ScanOut:
    raw = await redis.hgetall(scan_key(user_id))
    values = {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in raw.items()
    }
    return ScanOut(
        state=values.get("state", "idle"),  # type: ignore[arg-type]
        checked=int(values.get("checked", 0)),
        total=int(values.get("total", 0)),
        found=int(values.get("found", 0)),
    )


async def start_scan(redis: Any, user_id: uuid.UUID, total: int) -> ScanOut:
    """Queue a scan of the user's library, unless one is queued or running already."""
    current = await scan_progress(redis, user_id)
    if current.state in ("queued", "running"):
        return current
    await _progress(redis, user_id, state="queued", checked=0, total=total, found=0)
    await redis.enqueue_job("scan_duplicates", str(user_id), _job_id=f"scan_duplicates:{user_id}")
    return await scan_progress(redis, user_id)


async def scan_duplicates(
    ctx: dict[str, Any],
    user_id: str,
    after: str | None = None,
    checked: int = 0,
    found: int = 0,
) -> int:
    """Check every embedded page of the user's library, a batch per transaction, in id
    order. A slice stops at half the job's time limit and queues the next one from where it
    got to, so a library of any size is scanned by jobs that each end in time (measured:
    about 140 pages a second on the 2-core machine, bench/duplicates_scan.py)."""
    uid = uuid.UUID(user_id)
    redis = ctx["redis"]
    deadline = time.monotonic() + ctx["settings"].pipeline_job_timeout_seconds / 2
    last = uuid.UUID(after) if after else None
    try:
        async with ctx["sessionmaker"]() as session:
            await bind_user(session, uid)
            total = await service.embedded_count(session, uid)
        await _progress(redis, uid, state="running", checked=checked, total=total, found=found)
        while True:
            async with ctx["sessionmaker"]() as session:
                await bind_user(session, uid)
                ids = await service.scan_ids(session, uid, last)
                if not ids:
                    break
                found += await service.check(session, uid, ids)
                await session.commit()
            checked += len(ids)
            last = ids[-1]
            total = max(total, checked)
            await _progress(redis, uid, checked=checked, total=total, found=found)
            if time.monotonic() > deadline:
                await redis.enqueue_job(
                    "scan_duplicates", user_id, str(last), checked, found,
                    _job_id=f"scan_duplicates:{user_id}:{last}",
                )  # fmt: skip
                return found
        await _progress(redis, uid, state="done", checked=checked, total=total, found=found)
    except Exception:
        await _progress(redis, uid, state="failed")
        raise
    return found
