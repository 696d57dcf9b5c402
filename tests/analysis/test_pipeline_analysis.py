"""Analysis end to end: a real API process, a real arq worker, real Postgres/Valkey and model;
only the web (tests/fakes/web.py) and Gemini (tests/fakes/gemini.py) are local servers."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.fakes.web import html_page


@pytest.fixture
def analysis_worker(pipeline_worker, gemini_fake):  # type: ignore[no-untyped-def]
    """The session's pipeline worker, pointed at the local Gemini (restarted once if needed)."""
    if pipeline_worker.env.get("FUZE_GEMINI_BASE_URL") != gemini_fake.base_url:
        pipeline_worker.env["FUZE_GEMINI_BASE_URL"] = gemini_fake.base_url
        pipeline_worker.stop()
        pipeline_worker.start()
    yield pipeline_worker
    gemini_fake.script.clear()
    gemini_fake.structured.clear()


def _article(topic: str) -> str:
    paragraphs = "".join(
        f"<p>{topic} paragraph {i}: how write-ahead logging keeps a database durable "
        "when the machine loses power in the middle of a transaction.</p>"
        for i in range(12)
    )
    return html_page(f"{topic} explained", f"<article><h1>{topic}</h1>{paragraphs}</article>")


async def _put_key(api, user, gemini_fake) -> str:  # type: ignore[no-untyped-def]
    key = f"e2e-{uuid.uuid4().hex[:12]}"
    gemini_fake.valid_keys.add(key)
    r = await api.put("/api/users/me/gemini-key", headers=user.headers, json={"api_key": key})
    assert r.status_code == 200, r.text
    return key


async def _analysis_settled(api, user, bookmark_id: str, within: float = 60) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    async def done():  # type: ignore[no-untyped-def]
        b = (await api.get(f"/api/bookmarks/{bookmark_id}", headers=user.headers)).json()
        if b["status"] == "failed" or b["analysis_status"] in ("ready", "skipped", "failed"):
            return b
        return None

    return await wait_for(done, within=within, interval=0.2)


async def test_a_saved_page_becomes_ready_then_analysed_with_the_users_key(
    api, api_user, api_user2, web, gemini_fake, analysis_worker
):
    key = await _put_key(api, api_user, gemini_fake)
    gemini_fake.structured[key] = {
        "summary": "Write-ahead logging explained.",
        "content_type": "article",
        "difficulty": "advanced",
        "technologies": ["PostgreSQL"],
        "suggested_tags": ["DATABASES", "wal", "durability", "storage"],
    }
    web.route("/e2e/wal", _article("WAL"))
    events: list[tuple[str, dict[str, Any]]] = []

    async def listen() -> None:
        async with api.stream("GET", "/api/events", headers=api_user.headers) as r:
            name = ""
            async for line in r.aiter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    events.append((name, {**json.loads(line[6:]), "_at": time.perf_counter()}))
                    if (
                        name == "bookmark.analysis"
                        and events[-1][1]["analysis_status"] != "pending"
                    ):
                        return

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.5)
    r = await api.post(
        "/api/bookmarks",
        headers=api_user.headers,
        json={"url": web.url("/e2e/wal"), "tags": ["Databases"]},
    )
    assert r.status_code == 201 and r.json()["analysis_status"] == "pending"
    saved_at = time.perf_counter()
    b = await _analysis_settled(api, api_user, r.json()["id"])
    elapsed = time.perf_counter() - saved_at
    await asyncio.wait_for(listener, 30)

    assert b["status"] == "ready" and b["analysis_status"] == "ready", b
    analysis = b["analysis"]
    assert analysis["summary"] == "Write-ahead logging explained."
    assert analysis["content_type"] == "article" and analysis["technologies"] == ["PostgreSQL"]
    assert analysis["suggested_tags"] == ["Databases", "wal", "durability"]
    # The page went to Gemini with this user's key, and with no other.
    calls = [c for c in gemini_fake.calls if "WAL paragraph 0" in json.dumps(c.body or {})]
    assert calls and {c.api_key for c in calls} == {key}
    # The user saw it happen: ready, then analysed.
    names = [(n, d.get("analysis_status") or d.get("status")) for n, d in events]
    assert names.index(("bookmark.status", "ready")) < names.index(("bookmark.analysis", "ready"))
    ready_at = next(
        d["_at"] for n, d in events if n == "bookmark.status" and d["status"] == "ready"
    )
    analysed_at = next(d["_at"] for n, d in events if n == "bookmark.analysis")
    print(f"\nsave -> analysed {elapsed:.2f} s; ready -> analysed {analysed_at - ready_at:.2f} s")

    # Another user without a key: the page is ready, the analysis skipped, nothing failed.
    r = await api.post(
        "/api/bookmarks", headers=api_user2.headers, json={"url": web.url("/e2e/wal")}
    )
    other = await _analysis_settled(api, api_user2, r.json()["id"])
    assert other["status"] == "ready" and other["analysis_status"] == "skipped"
    assert other["error_code"] is None
    # ...until they store a key: the background pass analyses what they saved before.
    key2 = await _put_key(api, api_user2, gemini_fake)

    async def analysed():  # type: ignore[no-untyped-def]
        got = (await api.get(f"/api/bookmarks/{other['id']}", headers=api_user2.headers)).json()
        return got if got["analysis_status"] == "ready" else None

    got = await wait_for(analysed, within=60, interval=0.2)
    assert got["analysis"]["summary"]
    assert gemini_fake.calls_with(key2)


async def test_a_users_burst_keeps_to_the_concurrency_limit(
    api, api_user, web, gemini_fake, analysis_worker
):
    key = await _put_key(api, api_user, gemini_fake)
    gemini_fake.script[key] = ["slow:0.5"] * 5
    ids = []
    for i in range(5):
        web.route(f"/e2e/burst/{i}", _article(f"Burst{i}"))
        r = await api.post(
            "/api/bookmarks", headers=api_user.headers, json={"url": web.url(f"/e2e/burst/{i}")}
        )
        ids.append(r.json()["id"])
    for bookmark_id in ids:
        b = await _analysis_settled(api, api_user, bookmark_id, within=90)
        assert b["analysis_status"] == "ready", b
    assert len(gemini_fake.calls_with(key)) == 5
    # FUZE_GEMINI_CONCURRENCY_PER_USER is 2; background jobs leave one slot for breakdowns.
    assert gemini_fake.max_in_flight[key] == 1


async def test_a_refused_key_fails_the_analysis_not_the_bookmark(
    api, api_user, web, gemini_fake, analysis_worker
):
    gemini_fake.valid_keys.add("revoked-key-0000")
    r = await api.put(
        "/api/users/me/gemini-key",
        headers=api_user.headers,
        json={"api_key": "revoked-key-0000"},
    )
    assert r.status_code == 200
    gemini_fake.valid_keys.discard("revoked-key-0000")  # revoked since it was stored
    web.route("/e2e/refused", _article("Refused"))
    r = await api.post(
        "/api/bookmarks", headers=api_user.headers, json={"url": web.url("/e2e/refused")}
    )
    b = await _analysis_settled(api, api_user, r.json()["id"])
    assert b["status"] == "ready" and b["error_code"] is None
    assert b["analysis_status"] == "failed"
    assert b["analysis"]["error_code"] == "gemini_key_invalid"
    assert "API key" in b["analysis_error"]
