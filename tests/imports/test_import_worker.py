"""`fuze worker --imports`: a process that serves only the import queue."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from app.main import create_app
from tests.conftest import (
    PIPELINE_ENV,
    ROOT,
    as_operator,
    make_settings,
    register_and_login,
    service_env,
    wait_for,
)


@pytest.fixture
def imports_only_worker(stack, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    redis_url = stack.redis_url.rsplit("/", 1)[0] + "/5"
    env = service_env(stack, **PIPELINE_ENV, FUZE_REDIS_URL=redis_url)
    with (tmp_path / "imports-worker.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker", "--imports"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    yield redis_url
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


async def test_a_dedicated_import_worker_runs_imports_and_nothing_else(  # type: ignore[no-untyped-def]
    stack, imports_only_worker, web
):
    settings = make_settings(
        stack, redis_url=imports_only_worker, rate_limit_enabled=False, allow_private_networks=True
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    account = None
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            account = await register_and_login(client)
            links = "".join(f"{web.url('/status/404')}?n={i}\n" for i in range(3)).encode()
            r = await client.post(
                "/api/imports",
                headers=account.headers,
                files={"file": ("links.txt", links, "text/plain")},
            )
            assert r.status_code == 202, r.text
            r2 = await client.post(
                "/api/bookmarks", headers=account.headers, json={"url": web.url("/page")}
            )
            assert r2.status_code == 201

            async def done():  # type: ignore[no-untyped-def]
                body = (
                    await client.get(f"/api/imports/{r.json()['id']}", headers=account.headers)
                ).json()
                return body if body["status"] == "done" else None

            body = await wait_for(done, within=90, interval=0.3)
            assert (body["imported"], body["failed"], body["processed"]) == (3, 3, 3)
            # The interactive queue has no worker here: the page saved by hand is still queued.
            # (Not its status: the session's pipeline worker, on another Redis but the same
            # database, may sweep it up.)
            queued = await app.state.redis.zrange("arq:queue", 0, -1)
            assert queued == [f"fetch_bookmark:{r2.json()['id']}:1".encode()]
    finally:
        if account is not None:
            async with as_operator(app.state.engine) as conn:
                await conn.execute(
                    text("DELETE FROM users WHERE username = :u"), {"u": account.username}
                )
        await app.state.redis.flushdb()
        await app.state.redis.aclose()
        await app.state.reads.close()
        await app.state.engine.dispose()
