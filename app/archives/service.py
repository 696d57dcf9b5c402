"""Archived copies brought back by an import of Fuze's ZIP export (app/imports/exports.py):
each copy's gzip file (and its reader images, where the ZIP has them) is checked and kept as
the archive job would have kept it, with its original date, within the owner's archive
quota."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.archives import images, store
from app.archives.jobs import MB, quota_of
from app.archives.models import PageArchive
from app.config import Settings
from app.db import utcnow
from app.imports.parsers import parse_date
from app.users.models import User

GZIP_MAGIC = b"\x1f\x8b"


async def used_bytes(session: AsyncSession, user_id: uuid.UUID) -> int:
    return int(
        await session.scalar(
            select(func.coalesce(func.sum(PageArchive.stored_bytes), 0)).where(
                PageArchive.user_id == user_id
            )
        )
        or 0
    )


async def restore(
    session: AsyncSession,
    settings: Settings,
    user: User,
    bookmark_id: uuid.UUID,
    url: str,
    items: list[dict[str, Any]],
    read: Callable[[str, int], bytes | None],
) -> tuple[int, int]:
    """Keeps the copies `items` describe; `read(name, max_bytes)` gives a file of the import
    (None when it is missing or larger). Returns (restored, left out: quota full, missing,
    too large or not gzip). The caller commits."""
    quota = quota_of(settings, user)
    used = await used_bytes(session, user.id) if quota else 0
    limit = int(settings.archive_max_mb * MB)
    restored = left = 0
    for item in items:
        if quota and used >= quota:
            left += 1
            continue
        body = await asyncio.to_thread(read, str(item["file"]), limit)
        if body is None or not body.startswith(GZIP_MAGIC):
            left += 1
            continue
        file = str(item["file"])
        pictures = None
        if file.endswith(".html.gz"):  # its reader images, beside it (exports.images_file_name)
            pictures = await asyncio.to_thread(
                read, file[: -len(".html.gz")] + ".images.zip", limit
            )
            if pictures is not None and not await asyncio.to_thread(images.readable, pictures):
                pictures = None
        if quota and used + len(body) + len(pictures or b"") > quota:
            left += 1
            continue
        archive_id = uuid.uuid4()
        path = store.archive_file(settings.data_dir, user.id, bookmark_id, archive_id)
        await asyncio.to_thread(store.keep, path, body)
        if pictures is not None:
            target = images.images_file(settings.data_dir, user.id, bookmark_id, archive_id)
            await asyncio.to_thread(store.keep, target, pictures)
        size = item.get("size")
        session.add(
            PageArchive(
                id=archive_id,
                user_id=user.id,
                bookmark_id=bookmark_id,
                created_at=parse_date(item.get("created_at")) or utcnow(),
                status="ready",
                source_url=str(item.get("source_url") or url)[:4096],
                size_bytes=size if isinstance(size, int) and size >= 0 else 0,
                stored_bytes=len(body) + len(pictures or b""),
                assets=0,
                failures=[],
            )
        )
        used += len(body) + len(pictures or b"")
        restored += 1
    return restored, left
