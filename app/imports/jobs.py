"""arq jobs of imports, on the lower-priority import queue.

`parse_import` streams the stored file through its parser and saves the entries a batch at a
time, each batch in its own transaction together with the import's counters, so a job cut
short (a crash, a timeout) resumes after the last saved batch. A Fuze ZIP export's archived
copies are kept in the same transaction as the bookmarks they belong to. `watch_import` then follows
the imported pages through the pipeline, publishing progress, until none is pending.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import psutil
from arq.constants import job_key_prefix
from arq.jobs import serialize_job
from sqlalchemy import delete, select

from app.archives import service as archives_service
from app.db import bind_system, bind_user, get_for_owner, utcnow
from app.imports import parsers, service
from app.imports.models import DONE, FAILED, PARSING, PROCESSING, QUEUED, ImportBatch, ImportChunk
from app.users.models import User

log = logging.getLogger("fuze.imports")


def _zip_reader(file: Any) -> Callable[[str, int], bytes | None]:
    """Reads one file of an imported ZIP, if it is there and no larger than asked."""
    archive = zipfile.ZipFile(file)

    def read(name: str, max_bytes: int) -> bytes | None:
        try:
            info = archive.getinfo(name)
            if info.file_size > max_bytes:
                return None
            return archive.read(info)
        except (KeyError, zipfile.BadZipFile, OSError, ValueError):
            return None

    return read


def _take(entries: Iterator[parsers.Entry], n: int) -> list[parsers.Entry]:
    return list(itertools.islice(entries, n))


async def send_jobs(redis: Any, jobs: list[tuple[str, tuple[Any, ...], dict[str, Any]]]) -> None:
    """Queue a batch's pipeline jobs in one round trip (arq's enqueue_job takes several per
    job). Only for new ids: nothing checks for a job already queued under the same id."""
    if not jobs:
        return
    now_ms = int(time.time() * 1000)
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for function, args, kwargs in jobs:
                job_id = kwargs["_job_id"]
                data = serialize_job(
                    function, args, {}, None, now_ms, serializer=redis.job_serializer
                )
                pipe.set(job_key_prefix + job_id, data, px=redis.expires_extra_ms, nx=True)
                pipe.zadd(kwargs.get("_queue_name") or redis.default_queue_name, {job_id: now_ms})
            await pipe.execute()
    except Exception as exc:  # Redis down: the bookmarks are saved; the sweeper queues them
        log.warning("could not queue %d pipeline jobs: %s", len(jobs), exc)


async def _fail(ctx: dict[str, Any], import_id: uuid.UUID, code: str, message: str) -> str:
    async with ctx["sessionmaker"]() as session:
        batch = await get_for_owner(session, ImportBatch, import_id)
        if batch is None:
            return "gone"
        batch.status = FAILED
        batch.error_code, batch.error_message = code, message
        batch.finished_at = utcnow()
        await session.execute(delete(ImportChunk).where(ImportChunk.import_id == import_id))
        await session.commit()
    await service.publish_progress(ctx["redis"], batch, None)
    return f"failed: {code}"


async def parse_import(ctx: dict[str, Any], import_id: str) -> str:
    settings = ctx["settings"]
    maker = ctx["sessionmaker"]
    batch_id = uuid.UUID(import_id)
    async with maker() as session:
        batch = await get_for_owner(session, ImportBatch, batch_id)
        if batch is None or batch.status not in (QUEUED, PARSING):
            return "skipped"
        user = await session.get(User, batch.user_id)
        if user is None:
            return "skipped"
        batch.status = PARSING
        batch.started_at = batch.started_at or utcnow()
        await session.commit()
    await service.publish_progress(ctx["redis"], batch, None)

    process = psutil.Process()
    rss_start = peak_rss = process.memory_info().rss
    started = time.perf_counter()
    with tempfile.TemporaryFile() as file:
        # The stored pieces, one at a time, into a local file the parser can stream.
        async with maker() as session:
            await bind_user(session, user.id)
            pieces = await session.stream_scalars(
                select(ImportChunk.data)
                .where(ImportChunk.import_id == batch_id)
                .order_by(ImportChunk.seq)
                .execution_options(yield_per=1)
            )
            async for data in pieces:
                file.write(data)
        if file.tell() == 0:
            return await _fail(ctx, batch_id, "file_missing", "The uploaded file was not found.")
        file.seek(0)
        entries = parsers.parse(file, batch.format)
        read_member = _zip_reader(file) if batch.format == "fuze_zip" else None
        restored = left_out = 0
        done = batch.parsed  # a resumed job skips what an earlier run saved
        try:
            if done:
                await asyncio.to_thread(_take, entries, done)
            while True:
                chunk = await asyncio.to_thread(_take, entries, settings.import_batch_size)
                if not chunk:
                    break
                async with maker() as session:
                    await bind_user(session, user.id)
                    batch = await session.get_one(ImportBatch, batch_id, with_for_update=True)
                    numbered = [(done + i + 1, entry) for i, entry in enumerate(chunk)]
                    created: dict[int, uuid.UUID] = {}
                    counts = await service.save_entries(
                        session, settings, user, batch, numbered, created
                    )
                    for position, entry in numbered:
                        if read_member and entry.archives and position in created:
                            kept, left = await archives_service.restore(
                                session, settings, user, created[position], entry.url or "",
                                entry.archives, read_member,
                            )  # fmt: skip
                            restored, left_out = restored + kept, left_out + left
                    done += len(chunk)
                    batch.parsed = done
                    batch.imported += counts["imported"]
                    batch.duplicates += counts["duplicate"]
                    batch.invalid += counts["invalid"]
                    batch.updated_at = utcnow()
                    await session.commit()
                    await send_jobs(ctx["redis"], session.info.pop("pending_jobs", []))
                await service.publish_progress(ctx["redis"], batch, None)
                peak_rss = max(peak_rss, process.memory_info().rss)
        except parsers.MalformedFile as exc:
            return await _fail(ctx, batch_id, "import_malformed", exc.message)

    async with maker() as session:
        await bind_user(session, user.id)
        batch = await session.get_one(ImportBatch, batch_id, with_for_update=True)
        if batch.parsed != batch.total:  # the file changed meaning between check and parse
            batch.error_code = "count_mismatch"
            batch.error_message = (
                f"The file was counted with {batch.total} entries but {batch.parsed} were read."
            )
            batch.total = batch.parsed
        service.mark_parsed(batch)
        await session.execute(delete(ImportChunk).where(ImportChunk.import_id == batch_id))
        await session.commit()
    await service.publish_progress(ctx["redis"], batch, None)
    if batch.status == PROCESSING:
        await _watch_later(ctx, batch_id, 0)
    seconds = time.perf_counter() - started
    log.info(
        "import parsed",
        extra={
            "import_id": import_id,
            "entries": batch.parsed,
            "seconds": round(seconds, 2),
            "peak_rss_growth_mb": round((peak_rss - rss_start) / 1024 / 1024, 1),
            "archives_restored": restored,
            "archives_left_out": left_out,
        },
    )
    return f"parsed {batch.parsed} in {seconds:.1f} s"


async def _watch_later(ctx: dict[str, Any], import_id: uuid.UUID, tick: int) -> None:
    try:
        await ctx["redis"].enqueue_job(
            "watch_import",
            str(import_id),
            tick,
            _job_id=f"watch_import:{import_id}:{tick}",
            _queue_name=service.IMPORT_QUEUE,
            _defer_by=timedelta(seconds=ctx["settings"].import_watch_interval_seconds),
        )
    except Exception as exc:  # Redis down: GET /api/imports/{id} still counts afresh
        log.warning("could not queue the import watcher: %s", exc)


async def watch_import(ctx: dict[str, Any], import_id: str, tick: int = 0) -> str:
    """Count the imported pages by status, publish, and look again later until none is
    pending; then the import is done."""
    batch_id = uuid.UUID(import_id)
    async with ctx["sessionmaker"]() as session:
        batch = await get_for_owner(session, ImportBatch, batch_id, with_for_update=True)
        if batch is None or batch.status != PROCESSING:
            return "skipped"
        statuses = await service.count_pipeline(session, batch)
        batch.ready = statuses["ready"]
        batch.pipeline_failed = statuses["failed"]
        pending = sum(statuses.values()) - batch.ready - batch.pipeline_failed
        batch.updated_at = utcnow()  # a watcher is alive (see requeue_lost_imports)
        if pending == 0:
            batch.status = DONE
            batch.finished_at = utcnow()
        await session.commit()
    await service.publish_progress(ctx["redis"], batch, statuses)
    if pending:
        await _watch_later(ctx, batch_id, tick + 1)
        return f"{pending} pending"
    return "done"


async def requeue_lost_imports(ctx: dict[str, Any]) -> int:
    """Imports whose parse job or watcher was lost (Redis down at the time, a worker killed):
    queue them again. Job ids make this harmless while the original is still queued."""
    idle = utcnow() - timedelta(minutes=2)
    unwatched = utcnow() - timedelta(
        seconds=max(60, 30 * ctx["settings"].import_watch_interval_seconds)
    )
    async with ctx["sessionmaker"]() as session:
        await bind_system(session)  # every user's imports
        unparsed = list(
            await session.scalars(
                select(ImportBatch.id)
                .where(ImportBatch.status.in_((QUEUED, PARSING)), ImportBatch.updated_at < idle)
                .limit(100)
            )
        )
        watching = list(
            await session.scalars(
                select(ImportBatch.id)
                .where(ImportBatch.status == PROCESSING, ImportBatch.updated_at < unwatched)
                .limit(100)
            )
        )
    for import_id in unparsed:
        await ctx["redis"].enqueue_job(
            "parse_import",
            str(import_id),
            _job_id=f"parse_import:{import_id}",
            _queue_name=service.IMPORT_QUEUE,
        )
    for import_id in watching:
        await _watch_later(ctx, import_id, int(time.time()))
    return len(unparsed) + len(watching)
