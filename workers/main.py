"""arq WorkerSettings: one worker process runs every domain's jobs against the shared Redis.

Shared clients (the database engine, the HTTP client, the embedding model) are built once in
on_startup and live in ctx; jobs take ids, never objects, and open their own sessions. The
heartbeat (readiness) and the sweepers are loops of the process, not cron jobs. Unless
import_worker_inline is off, the process also runs a second arq worker on the import queue
(IMPORT_QUEUE), so imports never hold up interactive saves; `fuze worker --imports` runs
that one alone (ImportWorkerSettings).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import time
from typing import Any

from arq import Retry, cron, func
from arq.connections import RedisSettings
from arq.constants import default_queue_name
from arq.worker import Worker

import app.models  # noqa: F401  (every mapper, so relationships and foreign keys resolve)
from app import broker
from app.analysis import jobs as analysis_jobs
from app.archives import jobs as archive_jobs
from app.auth.key_check import check_secret_key
from app.bookmarks import jobs as bookmark_jobs
from app.config import get_settings
from app.db import ReadPool, create_engine, create_sessionmaker, is_conflict, is_unavailable
from app.duplicates import jobs as duplicate_jobs
from app.embeddings.service import Embedder
from app.extraction.fetch import make_http_client
from app.feeds import jobs as feed_jobs
from app.health.service import MODEL_KEY, WORKERS_KEY
from app.highlights import jobs as highlight_jobs
from app.imports import jobs as import_jobs
from app.imports.service import IMPORT_QUEUE
from app.logs import setup_logging
from app.metrics import measure_job
from app.projects import jobs as projects_jobs
from app.thumbnails import jobs as thumbnail_jobs
from app.webhooks import jobs as webhook_jobs

log = logging.getLogger("fuze.worker")
SWEEP_LOCK = "fuze:sweeper:lock"
STAGED_LOCK = "fuze:sweeper:staged"
STAGED_EVERY_MS = 10 * 60 * 1000
THUMBNAILS_LOCK = "fuze:sweeper:thumbnails"
# Built once per process: a worker started again after a Redis outage keeps the loaded model.
_EMBEDDER: Embedder | None = None


async def ping(ctx: dict[str, Any]) -> str:
    """A no-op job: proves end to end that a worker takes jobs from the queue."""
    return f"pong from {ctx['worker_id']}"


async def _every(seconds: float, name: str, action: Any) -> None:
    while True:
        try:
            await action()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Redis or the database down: keep trying
            log.warning("%s failed: %s", name, exc)
        await asyncio.sleep(seconds)


async def _heartbeat(ctx: dict[str, Any]) -> None:
    now = time.time()
    async with ctx["redis"].pipeline(transaction=False) as pipe:
        pipe.zadd(WORKERS_KEY, {ctx["worker_id"]: now})
        pipe.zremrangebyscore(WORKERS_KEY, "-inf", now - 24 * 3600)
        if ctx["embedder"].loaded:
            pipe.zadd(MODEL_KEY, {ctx["worker_id"]: now})
            pipe.zremrangebyscore(MODEL_KEY, "-inf", now - 24 * 3600)
        await pipe.execute()


async def _sweep(ctx: dict[str, Any]) -> None:
    interval = ctx["settings"].sweep_interval_seconds
    # One sweeper at a time across all workers.
    if await ctx["redis"].set(SWEEP_LOCK, ctx["worker_id"], nx=True, px=int(interval * 1000)):
        await bookmark_jobs.sweep(ctx)
        await analysis_jobs.sweep(ctx)
        await highlight_jobs.sweep(ctx)
        await webhook_jobs.sweep(ctx)
        await feed_jobs.schedule(ctx)
        # Staged pages are files: listing every bookmark's folder is done less often.
        if await ctx["redis"].set(STAGED_LOCK, ctx["worker_id"], nx=True, px=STAGED_EVERY_MS):
            await archive_jobs.sweep_staged(ctx)
        # Card pictures missing or due another try (and the backfill of older bookmarks, a
        # batch a pass): a scan of the ready bookmarks, so every tenth pass.
        every_ms = int(interval * 10 * 1000)
        if await ctx["redis"].set(THUMBNAILS_LOCK, ctx["worker_id"], nx=True, px=every_ms):
            await thumbnail_jobs.sweep(ctx)


async def startup(ctx: dict[str, Any]) -> None:
    settings = get_settings()
    setup_logging(settings.log_level, settings.log_json)
    ctx["settings"] = settings
    ctx["worker_id"] = f"{socket.gethostname()}:{os.getpid()}"
    ctx["engine"] = create_engine(settings)
    # Workers decrypt the Gemini keys stored under the API's secret key: one key for all.
    await check_secret_key(ctx["engine"], settings)
    # Only for the read-after-write markers its commits leave (the API reads the replicas).
    ctx["reads"] = ReadPool(settings, redis=ctx["redis"])
    ctx["sessionmaker"] = create_sessionmaker(ctx["engine"], ctx["reads"])
    ctx["http"] = make_http_client(settings)
    global _EMBEDDER
    if _EMBEDDER is None:
        _EMBEDDER = Embedder(batch_size=settings.embed_batch_size, threads=settings.embed_threads)
    ctx["embedder"] = _EMBEDDER

    # Load the model in the background: the worker takes fetch jobs meanwhile, and embed jobs
    # simply wait for it.
    async def load_then_beat() -> None:
        await ctx["embedder"].load_async()
        await _heartbeat(ctx)

    ctx["tasks"] = [
        asyncio.create_task(load_then_beat()),
        asyncio.create_task(
            _every(settings.worker_heartbeat_seconds, "heartbeat", lambda: _heartbeat(ctx))
        ),
        asyncio.create_task(
            _every(settings.sweep_interval_seconds, "sweeper", lambda: _sweep(ctx))
        ),
    ]
    if settings.import_worker_inline and not ctx.get("imports_only"):
        ctx["import_worker"] = _import_worker(ctx)
        ctx["import_task"] = asyncio.create_task(ctx["import_worker"].async_run())
    log.info(
        "worker started: it takes jobs while the embedding model loads",
        extra={"worker_id": ctx["worker_id"]},
    )


async def shutdown(ctx: dict[str, Any]) -> None:
    if "import_worker" in ctx:  # jobs it cuts short are retried (all are idempotent)
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await ctx["import_worker"].close()
    for task in ctx.get("tasks", []):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    with contextlib.suppress(Exception):
        await ctx["redis"].zrem(WORKERS_KEY, ctx["worker_id"])
        await ctx["redis"].zrem(MODEL_KEY, ctx["worker_id"])
    if "embedder" in ctx:
        stats = ctx["embedder"].stats
        if stats.batches:
            log.info(
                "embedding batches",
                extra={
                    "batches": stats.batches,
                    "texts": stats.texts,
                    "mean_batch": round(stats.texts / stats.batches, 1),
                    "model_seconds": round(stats.seconds, 2),
                    "texts_per_model_second": round(stats.texts / max(stats.seconds, 1e-9), 1),
                    "cache_hits": stats.cache_hits,
                },
            )
        await ctx["embedder"].stop_batching()
    if "http" in ctx:
        await ctx["http"].aclose()
    if "reads" in ctx:
        await ctx["reads"].close()
    if "engine" in ctx:
        await ctx["engine"].dispose()
    log.info("worker stopped", extra={"worker_id": ctx.get("worker_id")})


class PromptWorker(Worker):
    """arq's worker, quick to see the next job while there is work. arq starts at most the
    free slots' worth of jobs each time it looks at the queue, then waits `poll_delay` before
    looking again; a page's stages take 30-150 ms each, so with arq's 0.5 s the slots sat idle
    most of the time (the import queue's 4 slots ran 8 jobs a second: 2.6 pages/s on the
    2-core machine, bench/ingest.py --via import). It looks every `poll_delay`
    (settings.worker_poll_seconds) while a job runs or the last look found one, and every
    `idle_poll_delay` (arq's 0.5 s) when the queue is idle: an idle worker then uses 0.27 % of
    a core, where looking every 50 ms all the time would use 1.6 % (docs/benchmarks.md#ingest)."""

    def __init__(self, *args: Any, idle_poll_delay: float = 0.5, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.idle_poll_s = max(idle_poll_delay, self.poll_delay_s)
        self._found_jobs = False

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        self._found_jobs = bool(job_ids)
        await super().start_jobs(job_ids)

    async def _poll_iteration(self) -> None:
        await super()._poll_iteration()
        if not self._found_jobs and not self.tasks:  # idle: back to arq's pace
            await asyncio.sleep(self.idle_poll_s - self.poll_delay_s)


def _redis_settings() -> RedisSettings:
    return broker.arq_redis_settings(get_settings())


def redis_pool_for(queue_name: str | None) -> dict[str, Any]:
    """The worker's Redis client, Worker(redis_pool=...): the API's (app.broker), not the one
    arq makes from its settings. Its jobs then queue the next stage in one round trip
    (FuzeRedis.enqueue_job, where arq's enqueue takes three, about seven times per page), its
    pool checks a connection without a timed read, and with Sentinel it has timeouts and
    retries across a failover (arq's Sentinel pool has neither). One per worker run: a pool is
    closed with its worker."""
    settings = get_settings()
    return {
        "redis_pool": broker.create_redis(
            settings, default_queue_name=queue_name or default_queue_name
        )
    }


def retry_database_faults(coroutine: Any) -> Any:
    """A job that lost a deadlock or a serialization race, or found the database away
    (restarting, connections cut), is run again after a short wait, as arq's Retry does,
    instead of failing and leaving its bookmark to the sweeper minutes later. Its
    transaction rolled back whole; the stages are idempotent and count their attempts."""

    @functools.wraps(coroutine)
    async def job(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await coroutine(ctx, *args, **kwargs)
        except Exception as exc:
            if not (is_conflict(exc) or is_unavailable(exc)):
                raise
            delay = min(30, 2 ** ctx.get("job_try", 1))
            log.warning(
                "job lost a race or the database; trying again",
                extra={"job": coroutine.__name__, "retry_in": delay, "error": type(exc).__name__},
            )
            raise Retry(defer=delay) from exc

    return job


def _job(coroutine: Any, **options: Any) -> Any:
    # Counted outermost: a database fault's retry counts as `retried` (app/metrics.py).
    return func(measure_job(retry_database_faults(coroutine)), name=coroutine.__name__, **options)


def _pipeline_job(coroutine: Any) -> Any:
    timeout = get_settings().pipeline_job_timeout_seconds
    # keep_result=0: a finished job leaves no result behind, so the sweeper can queue the same
    # job id again if the bookmark is still stuck.
    return _job(coroutine, timeout=timeout, keep_result=0, max_tries=bookmark_jobs.MAX_TRIES + 1)


def _bounded_job(coroutine: Any, max_tries: int) -> Any:
    # No longer than the pipeline's timeout: arq keeps a dead worker's jobs "in progress" for
    # the longest timeout of any function (+10 s), and a restarted worker waits that long.
    timeout = get_settings().pipeline_job_timeout_seconds
    return _job(coroutine, timeout=timeout, keep_result=0, max_tries=max_tries)


class WorkerSettings:
    functions = [
        ping,
        _pipeline_job(bookmark_jobs.fetch_bookmark),
        _pipeline_job(bookmark_jobs.extract_bookmark),
        _pipeline_job(bookmark_jobs.embed_bookmark),
        _bounded_job(analysis_jobs.analyse_bookmark, analysis_jobs.ARQ_MAX_TRIES),
        _bounded_job(analysis_jobs.analyse_backlog, 3),
        _bounded_job(projects_jobs.analyse_project, analysis_jobs.ARQ_MAX_TRIES),
        _pipeline_job(projects_jobs.embed_context),
        _pipeline_job(highlight_jobs.embed_highlights),
        _bounded_job(feed_jobs.poll_feed, 2),
        _bounded_job(webhook_jobs.webhook_event, 3),
        # Its own tries and waits (settings.webhook_retry_seconds) are new jobs, not arq's.
        _bounded_job(webhook_jobs.deliver_webhook, 2),
        _bounded_job(archive_jobs.archive_page, 3),
        _bounded_job(duplicate_jobs.find_duplicates, 3),
        _bounded_job(duplicate_jobs.scan_duplicates, 2),
        _bounded_job(thumbnail_jobs.make_thumbnail, 3),
    ]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = _redis_settings()
    max_jobs = get_settings().worker_max_jobs
    poll_delay = get_settings().worker_poll_seconds
    # arq keeps a job "in progress" for the longest timeout + 10 s after a worker dies.
    job_timeout = get_settings().pipeline_job_timeout_seconds
    keep_result = 3600
    health_check_interval = 30
    # On SIGTERM (a deploy, `docker compose stop`), take no new job and let the running ones
    # finish, up to their own time limit, before exiting; a supervisor's grace period must be
    # longer (compose.yaml's stop_grace_period). Jobs still running then are cancelled and
    # retried elsewhere (all are idempotent).
    job_completion_wait = get_settings().pipeline_job_timeout_seconds


def _import_functions() -> list[Any]:
    settings = get_settings()
    return [
        *WorkerSettings.functions,
        func(
            measure_job(import_jobs.parse_import),
            name="parse_import",
            timeout=settings.import_job_timeout_seconds,
            keep_result=0,
            max_tries=5,
        ),
        func(
            measure_job(import_jobs.watch_import),
            name="watch_import",
            timeout=60,
            keep_result=0,
            max_tries=3,
        ),
    ]


def _import_worker(ctx: dict[str, Any]) -> Worker:
    """A second arq worker in this process for the lower-priority import queue: parsing imports
    and the pipeline of imported pages (each stage queues the next on the queue it ran from).
    It has fewer job slots than the interactive worker, and the interactive queue never waits
    behind it. It shares this process's database engine, HTTP client and model."""
    settings = ctx["settings"]
    shared = ("settings", "worker_id", "engine", "sessionmaker", "http", "embedder")
    return PromptWorker(
        functions=_import_functions(),
        cron_jobs=[cron(import_jobs.requeue_lost_imports, second=0, timeout=60)],
        queue_name=IMPORT_QUEUE,
        redis_settings=_redis_settings(),
        **redis_pool_for(IMPORT_QUEUE),
        handle_signals=False,
        max_jobs=settings.import_worker_max_jobs,
        poll_delay=settings.worker_poll_seconds,
        job_timeout=settings.pipeline_job_timeout_seconds,
        keep_result=3600,
        health_check_interval=30,
        ctx={key: ctx[key] for key in shared},
    )


async def _imports_only_startup(ctx: dict[str, Any]) -> None:
    ctx["imports_only"] = True
    await startup(ctx)


class ImportWorkerSettings:
    """`fuze worker --imports`: a process serving only the import queue, for deployments that
    give imports machines of their own (set FUZE_IMPORT_WORKER_INLINE=false on the others)."""

    functions = _import_functions()
    cron_jobs = [cron(import_jobs.requeue_lost_imports, second=0, timeout=60)]
    queue_name = IMPORT_QUEUE
    on_startup = _imports_only_startup
    on_shutdown = shutdown
    redis_settings = _redis_settings()
    max_jobs = get_settings().import_worker_max_jobs
    poll_delay = get_settings().worker_poll_seconds
    job_timeout = get_settings().pipeline_job_timeout_seconds
    keep_result = 3600
    health_check_interval = 30
    # A parse can outlast any grace period: it resumes from its last batch when cut short.
    job_completion_wait = get_settings().pipeline_job_timeout_seconds
