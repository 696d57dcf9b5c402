"""The session dependency commits once, and jobs enqueued in a request leave only after it."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from app.db import enqueue_after_commit
from app.deps import SessionDep
from app.errors import Conflict, install_error_handlers
from app.users.models import User


def _probe_app(app: FastAPI) -> FastAPI:
    probe = FastAPI()
    probe.state = app.state
    install_error_handlers(probe)
    seen: dict[str, int] = {}

    @probe.post("/ok")
    async def ok(session: SessionDep) -> dict[str, int]:
        session.add(User(username="jobber", email="j@example.com", password_hash="x"))
        await session.flush()
        enqueue_after_commit(session, "ping", _job_id="probe-ok")
        # Not yet: the transaction has not committed.
        seen["queued_during_request"] = len(await app.state.redis.queued_jobs())
        return seen

    @probe.post("/fails")
    async def fails(session: SessionDep) -> None:
        session.add(User(username="ghost", email="g@example.com", password_hash="x"))
        await session.flush()
        enqueue_after_commit(session, "ping", _job_id="probe-fails")
        raise Conflict("no")

    return probe


async def test_jobs_are_sent_after_commit_and_never_after_a_rollback(app, db, redis):
    probe = _probe_app(app)
    transport = httpx.ASGITransport(app=probe, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.post("/ok")
        assert r.status_code == 200 and r.json()["queued_during_request"] == 0
        queued = await redis.queued_jobs()
        assert [j.job_id for j in queued] == ["probe-ok"]

        r = await c.post("/fails")
        assert r.status_code == 409
        assert [j.job_id for j in await redis.queued_jobs()] == ["probe-ok"]

    count = await db.scalar(
        select(func.count()).select_from(User).where(User.username.in_(["jobber", "ghost"]))
    )
    assert count == 1  # the failed request's row was rolled back


async def test_the_embedded_server_keeps_a_quarter_of_memory_for_its_buffers(db):
    # Searches walk the HNSW index at random: the embedded PostgreSQL is started with
    # shared buffers sized to the machine (app.embedded.shared_buffers_mb), not a fixed 256 MB.
    from sqlalchemy import text

    from app.embedded import shared_buffers_mb

    size = (
        await db.execute(
            text("SELECT setting::bigint * 8192 FROM pg_settings WHERE name = 'shared_buffers'")
        )
    ).scalar_one()
    assert size == shared_buffers_mb() * 2**20
    assert 256 <= shared_buffers_mb() <= 8192
