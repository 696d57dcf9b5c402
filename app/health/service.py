"""Readiness checks: each answers (ok, detail) and never raises."""

from __future__ import annotations

import asyncio
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.embeddings.service import Embedder

ROOT = Path(__file__).resolve().parents[2]
WORKERS_KEY = "fuze:workers"  # sorted set: worker id -> last heartbeat (unix time)
MODEL_KEY = "fuze:workers:model"  # the same, for workers whose embedding model is loaded


@lru_cache
def migration_heads() -> frozenset[str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    return frozenset(ScriptDirectory.from_config(config).get_heads())


async def check_database(engine: AsyncEngine) -> tuple[bool, str, set[str]]:
    try:
        async with asyncio.timeout(3):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
                try:
                    rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
                    versions = {r[0] for r in rows}
                except Exception:
                    versions = set()
        return True, "ok", versions
    except Exception as exc:
        return False, f"unreachable: {type(exc).__name__}", set()


async def check_redis(redis: Any) -> tuple[bool, str]:
    try:
        async with asyncio.timeout(2):
            await redis.ping()
        return True, "ok"
    except Exception as exc:
        return False, f"unreachable: {type(exc).__name__}"


async def check_workers(
    redis: Any, settings: Settings
) -> tuple[tuple[bool, str], tuple[bool, str]]:
    """(worker check, model check): a live worker, and a live worker with the model loaded."""
    since = time.time() - settings.worker_heartbeat_ttl_seconds
    try:
        async with asyncio.timeout(2):
            async with redis.pipeline(transaction=False) as pipe:
                pipe.zcount(WORKERS_KEY, since, "+inf").zcount(MODEL_KEY, since, "+inf")
                alive, loaded = await pipe.execute()
    except Exception as exc:
        unknown = (False, f"unknown (redis unreachable: {type(exc).__name__})")
        return unknown, unknown
    worker = (True, f"{alive} worker(s) alive") if alive else (False, "no worker heartbeat")
    model = (
        (True, f"loaded in {loaded} worker(s)")
        if loaded
        else (False, "no worker has loaded the embedding model yet")
    )
    return worker, model


def check_query_encoder(embedder: Embedder, settings: Settings) -> tuple[bool, str]:
    """Whether this process can embed a search query now. It starts loading when the process
    starts (see app.main); until it is loaded a semantic search would wait for it (the first
    start on a data folder exports the ONNX graph: tens of seconds)."""
    if embedder.loaded:
        return True, f"loaded ({embedder.query_backend})"
    if embedder.load_error is not None:
        return False, f"failed to load: {embedder.load_error}"
    if not settings.preload_model:
        return True, "loads at the first search (FUZE_PRELOAD_MODEL=false)"
    return False, "loading"


async def readiness(
    engine: AsyncEngine, redis: Any, embedder: Embedder, settings: Settings
) -> dict[str, dict[str, Any]]:
    (db_ok, db_detail, versions), (r_ok, r_detail), workers = await asyncio.gather(
        check_database(engine), check_redis(redis), check_workers(redis, settings)
    )
    (w_ok, w_detail), (m_ok_, m_detail_) = workers
    heads = migration_heads()
    if not db_ok:
        m_ok, m_detail = False, "unknown (database unreachable)"
    elif versions == set(heads):
        m_ok, m_detail = True, f"at head {', '.join(sorted(heads))}"
    else:
        m_ok = False
        m_detail = f"database at {', '.join(sorted(versions)) or 'nothing'}; head is {', '.join(sorted(heads))}"
    q_ok, q_detail = check_query_encoder(embedder, settings)
    return {
        "database": {"ok": db_ok, "detail": db_detail},
        "redis": {"ok": r_ok, "detail": r_detail},
        "migrations": {"ok": m_ok, "detail": m_detail},
        "worker": {"ok": w_ok, "detail": w_detail},
        "model": {"ok": m_ok_, "detail": m_detail_},
        "query_encoder": {"ok": q_ok, "detail": q_detail},
    }
