"""Faults around the pipeline: Redis down while saving, and internal addresses behind names.

Each test runs its own worker (and, for the outage, its own Valkey it can stop), with its own
API app that really commits, so nothing here disturbs the shared test services.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from app.cli import run_migrations
from app.embedded import EmbeddedValkey, free_port
from app.main import create_app
from tests.conftest import (
    PIPELINE_ENV,
    Stack,
    WorkerProcess,
    as_operator,
    make_settings,
    register_and_login,
    service_env,
    wait_for,
)


async def _status(client: httpx.AsyncClient, headers: dict, bookmark_id: str) -> dict:
    return (await client.get(f"/api/bookmarks/{bookmark_id}", headers=headers)).json()


async def _cleanup(app, username: str) -> None:  # type: ignore[no-untyped-def]
    async with as_operator(app.state.engine) as conn:
        await conn.execute(text("DELETE FROM users WHERE username = :u"), {"u": username})


@pytest.fixture
async def outage(stack: Stack, tmp_path: Path) -> AsyncIterator[dict]:
    port = free_port()
    valkey = EmbeddedValkey(tmp_path / "valkey", port=port)
    valkey.start()
    redis_url = valkey.url(0)
    app = create_app(
        make_settings(
            stack, redis_url=redis_url, rate_limit_enabled=False, allow_private_networks=True
        )
    )
    worker = WorkerProcess(
        service_env(stack, **PIPELINE_ENV, FUZE_REDIS_URL=redis_url), tmp_path / "worker.log"
    )
    worker.start()
    state = {"valkey": valkey, "port": port, "app": app, "worker": worker, "tmp": tmp_path}
    try:
        yield state
    finally:
        worker.stop()
        state["valkey"].stop()
        await app.state.redis.aclose()
        await app.state.reads.close()
        await app.state.engine.dispose()


async def test_saving_while_redis_is_down_is_saved_and_processed_once_it_is_back(outage, web):
    app = outage["app"]
    web.route("/during-outage", "<html><head><title>Outage</title></head><body><article>"
              + "<p>Saved while the queue was down, processed when it came back. </p>" * 10
              + "</article></body></html>")  # fmt: skip
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        account = await register_and_login(client)
        try:
            outage["valkey"].stop()
            r = await client.post(
                "/api/bookmarks", headers=account.headers, json={"url": web.url("/during-outage")}
            )
            assert r.status_code == 201 and r.json()["status"] == "pending"
            bookmark_id = r.json()["id"]
            # Reads keep working too.
            listed = await client.get("/api/bookmarks", headers=account.headers)
            assert [b["id"] for b in listed.json()["items"]] == [bookmark_id]

            valkey = EmbeddedValkey(outage["tmp"] / "valkey", port=outage["port"])
            valkey.start()
            outage["valkey"] = valkey

            async def ready():  # type: ignore[no-untyped-def]
                b = await _status(client, account.headers, bookmark_id)
                return b if b["status"] == "ready" else None

            b = await wait_for(ready, within=120, interval=0.5)
            assert b["title"] == "Outage" and "processed when it came back" in b["text"]
        finally:
            await _cleanup(app, account.username)


@pytest.fixture
async def own_database(stack: Stack) -> AsyncIterator[str]:
    """A database of this test's own (migrated), which the session's permissive worker and
    its sweeper never see."""
    import asyncpg

    name = f"fuze_strict_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(stack.database_url.replace("postgresql+asyncpg", "postgresql"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = stack.database_url.rsplit("/", 1)[0] + "/" + name
    try:
        await asyncio.to_thread(run_migrations, url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def test_names_that_resolve_to_internal_addresses_are_never_fetched(
    stack, tmp_path, web, own_database
):
    """A strict worker (private networks off, the default): `localhost` passes the save-time
    check (it is a name) but the fetcher resolves it and refuses. Its own database and Redis:
    the session's worker allows loopback (for the test web server), and its sweeper would
    otherwise pick this bookmark up while the strict worker is still starting."""
    redis_url = stack.redis_url.rsplit("/", 1)[0] + "/3"
    app = create_app(
        make_settings(
            stack, database_url=own_database, redis_url=redis_url, rate_limit_enabled=False
        )
    )
    env = service_env(stack, **{**PIPELINE_ENV, "FUZE_ALLOW_PRIVATE_NETWORKS": "false"})
    env["FUZE_REDIS_URL"] = redis_url
    env["FUZE_DATABASE_URL"] = own_database
    worker = WorkerProcess(env, tmp_path / "worker.log")
    worker.start()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            account = await register_and_login(client)
            try:
                before = web.hits["/page"]
                r = await client.post(
                    "/api/bookmarks",
                    headers=account.headers,
                    json={"url": web.url("/page", host="localhost")},
                )
                assert r.status_code == 201

                async def settled():  # type: ignore[no-untyped-def]
                    b = await _status(client, account.headers, r.json()["id"])
                    return b if b["status"] in ("ready", "failed") else None

                b = await wait_for(settled, within=60, interval=0.3)
                assert b["status"] == "failed" and b["error_code"] == "blocked_address"
                assert "localhost" in b["error_message"]
                assert web.hits["/page"] == before
            finally:
                await _cleanup(app, account.username)
    finally:
        worker.stop()
        await app.state.redis.aclose()
        await app.state.reads.close()
        await app.state.engine.dispose()
