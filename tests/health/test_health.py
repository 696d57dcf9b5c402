"""Liveness and readiness: database, Redis, migrations at head, a live worker, the query
encoder."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.embedded import free_port
from tests.conftest import (
    PIPELINE_ENV,
    ROOT,
    Stack,
    _drop_user,
    _wait_http,
    live_redis_url,
    register_and_login,
    service_env,
    wait_for,
)


async def test_liveness(client):
    r = await client.get("/api/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


async def test_not_ready_without_a_worker_says_what_is_down(client):
    r = await client.get("/api/health/ready")
    assert r.status_code == 503
    err = r.json()["error"]
    assert err["code"] == "not_ready"
    checks = err["details"]["checks"]
    assert checks["worker"]["ok"] is False and checks["model"]["ok"] is False
    assert checks["database"]["ok"] and checks["redis"]["ok"] and checks["migrations"]["ok"]
    assert "worker" in err["message"]


async def test_ready_with_a_worker_that_takes_jobs(client, redis, worker_process):
    async def ready():  # type: ignore[no-untyped-def]
        r = await client.get("/api/health/ready")
        return r if r.status_code == 200 else None

    r = await wait_for(ready, within=60)
    body = r.json()
    assert body["status"] == "ready"
    assert body["checks"]["worker"]["detail"].startswith("1 worker")
    assert body["checks"]["model"]["detail"] == "loaded in 1 worker(s)"
    assert body["checks"]["migrations"]["detail"].startswith("at head")
    job = await redis.enqueue_job("ping")
    assert (await job.result(timeout=30)).startswith("pong from ")


async def test_ready_reports_redis_down(app_without_redis):
    import httpx

    transport = httpx.ASGITransport(app=app_without_redis, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/api/health/ready")
        assert r.status_code == 503
        checks = r.json()["error"]["details"]["checks"]
        assert checks["redis"]["ok"] is False and checks["database"]["ok"] is True
        assert (await c.get("/api/health")).status_code == 200


async def test_ready_reports_a_database_behind_the_migrations(stack):
    """A replica pointed at a database nobody migrated must not report ready."""
    import secrets

    import httpx
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from app.db import asyncpg_url, create_engine
    from app.main import create_app
    from tests.conftest import make_settings

    name = f"unmigrated_{secrets.token_hex(4)}"
    url = make_url(asyncpg_url(stack.database_url))
    admin = create_engine(
        make_settings(stack, database_role=""), url.set(database="postgres").render_as_string(False)
    )
    async with admin.connect() as conn:
        await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(
            text(f'CREATE DATABASE "{name}"')
        )
    replica = create_app(
        make_settings(stack, database_url=url.set(database=name).render_as_string(False))
    )
    try:
        transport = httpx.ASGITransport(app=replica, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.get("/api/health/ready")
        assert r.status_code == 503
        migrations = r.json()["error"]["details"]["checks"]["migrations"]
        assert migrations["ok"] is False and "database at nothing" in migrations["detail"]
    finally:
        await replica.state.redis.aclose()
        await replica.state.reads.close()
        await replica.state.engine.dispose()
        async with admin.connect() as conn:
            await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(
                text(f'DROP DATABASE "{name}"')
            )
        await admin.dispose()


@pytest.fixture
def fresh_api(tmp_path: Path, stack: Stack, pipeline_worker: object) -> Iterator[tuple[str, Path]]:
    """A new API process on a data folder with no exported query encoder yet (it exports one
    first: seconds), beside a worker with the model loaded; its URL and its log."""
    env = service_env(
        stack,
        **PIPELINE_ENV,
        FUZE_REDIS_URL=live_redis_url(stack),
        FUZE_DATA_DIR=str(tmp_path / "data"),
        FUZE_PRELOAD_MODEL="true",
    )
    port, log_path = free_port(), tmp_path / "api.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "api", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_http(f"http://127.0.0.1:{port}/api/health", proc)
        yield f"http://127.0.0.1:{port}", log_path
    finally:
        proc.terminate()
        proc.wait(30)


async def test_a_fresh_api_process_is_ready_only_once_it_can_embed_a_query(
    fresh_api: tuple[str, Path], stack: Stack
):
    """The query encoder starts loading when the process starts, and readiness waits for it,
    so a search sent as soon as the process says ready does not wait for the model. (With the
    graph `make install` exported, loading takes a fraction of a second: the first answer may
    already be ready; while it is not, the encoder is what it waits for.)"""
    base, log_path = fresh_api
    account = None
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as api:

            async def ready():  # type: ignore[no-untyped-def]
                r = await api.get("/api/health/ready")
                if r.status_code == 200:
                    return r
                assert r.status_code == 503
                encoder = r.json()["error"]["details"]["checks"]["query_encoder"]
                if not encoder["ok"]:
                    assert encoder["detail"] == "loading"
                    assert "query_encoder" in r.json()["error"]["message"]
                return None

            r = await wait_for(ready, within=300, interval=0.25)
            assert r.json()["checks"]["query_encoder"] == {
                "ok": True,
                "detail": "loaded (onnxruntime)",
            }
            account = await register_and_login(api)
            found = await api.get(
                "/api/search",
                params={"q": "how to tune postgres", "mode": "semantic"},
                headers=account.headers,
            )
            assert found.status_code == 200, found.text
            assert found.json()["mode"] == "semantic"
        # Loaded once, at start: the search found it loaded.
        assert log_path.read_text().count("embedding model loaded") == 1
    finally:
        if account is not None:
            await _drop_user(stack, account)
