from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import Account
from tests.fakes.gemini import FakeGemini


@pytest.fixture
def job_ctx(app, settings, db, redis) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """What a worker hands the jobs, on the test's transaction (run jobs in-process)."""
    return {
        "settings": settings,
        "sessionmaker": app.state.sessionmaker,
        "redis": app.state.redis,
        "embedder": app.state.embedder,
        "job_try": 1,
    }


@pytest.fixture
def gemini(gemini_fake: FakeGemini) -> Iterator[FakeGemini]:
    """The session's fake Gemini, with this test's scripts removed afterwards."""
    yield gemini_fake
    gemini_fake.script.clear()
    gemini_fake.structured.clear()
    gemini_fake.max_in_flight.clear()


async def store_key(client, account: Account, fake: FakeGemini, key: str | None = None) -> str:  # type: ignore[no-untyped-def]
    key = key or f"{account.username}-key-{uuid.uuid4().hex[:8]}"
    fake.valid_keys.add(key)
    r = await client.put("/api/users/me/gemini-key", headers=account.headers, json={"api_key": key})
    assert r.status_code == 200, r.text
    return key


async def ready_bookmark(  # type: ignore[no-untyped-def]
    client,
    db,
    account: Account,
    *,
    url: str | None = None,
    title: str = "Indexing in PostgreSQL",
    body: str = "B-tree indexes make lookups fast. " * 40,
    tags: list[str] | None = None,
) -> dict[str, Any]:
    """A bookmark as the pipeline leaves it before analysis (fetched, extracted, embedded)."""
    url = url or f"https://example.com/{uuid.uuid4().hex[:10]}"
    r = await client.post(
        "/api/bookmarks", headers=account.headers, json={"url": url, "tags": tags or []}
    )
    assert r.status_code == 201, r.text
    saved = r.json()
    await db.execute(
        text(
            "UPDATE bookmarks SET status = 'ready', page_title = :title, text = :body,"
            " content_hash = :hash, site_name = 'Example', processed_at = now()"
            " WHERE id = :id"
        ),
        {
            "id": saved["id"],
            "title": title,
            "body": body,
            "hash": hashlib.sha256(body.encode()).hexdigest(),
        },
    )
    return saved


async def get_bookmark(client, account: Account, bookmark_id: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = await client.get(f"/api/bookmarks/{bookmark_id}", headers=account.headers)
    assert r.status_code == 200, r.text
    return r.json()
