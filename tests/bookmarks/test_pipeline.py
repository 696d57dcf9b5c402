"""The pipeline end to end: a real API process, a real arq worker, real Postgres/Valkey, the
real embedding model; only the web is local (tests/fakes/web.py)."""

from __future__ import annotations

import asyncio
import gzip
import json
import math
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import owner_engine, wait_for

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "extraction"

pytestmark = pytest.mark.usefixtures("pipeline_worker")


def _real_page(page_id: str) -> tuple[bytes, str]:
    truth = json.loads((DATA / "ground-truth.json").read_text())[page_id]["articleBody"]
    return gzip.decompress((DATA / "html" / f"{page_id}.html.gz").read_bytes()), truth


def _some_page_ids(n: int) -> list[str]:
    return sorted(json.loads((DATA / "ground-truth.json").read_text()))[:n]


async def _save(api, user, url: str, **extra) -> dict:  # type: ignore[no-untyped-def]
    r = await api.post("/api/bookmarks", headers=user.headers, json={"url": url, **extra})
    assert r.status_code in (200, 201), r.text
    return r.json()


async def _settled(api, user, bookmark_id: str, within: float = 180) -> dict:  # type: ignore[no-untyped-def]
    # The first page of a run also waits for the worker process to start and load the model,
    # which on a loaded 2-core machine has taken most of a minute.
    async def done():  # type: ignore[no-untyped-def]
        b = (await api.get(f"/api/bookmarks/{bookmark_id}", headers=user.headers)).json()
        return b if b["status"] in ("ready", "failed") else None

    return await wait_for(done, within=within, interval=0.2)


async def _vector(db_url_engine, bookmark_id: str):  # type: ignore[no-untyped-def]
    async with db_url_engine.connect() as conn:
        row = await conn.execute(
            text("SELECT embedding::text FROM bookmark_vectors WHERE bookmark_id = :id"),
            {"id": bookmark_id},
        )
        value = row.scalar()
    return None if value is None else [float(x) for x in value.strip("[]").split(",")]


@pytest.fixture
async def engine(stack):  # type: ignore[no-untyped-def]
    eng = owner_engine(stack)
    yield eng
    await eng.dispose()


async def test_a_saved_page_becomes_ready_with_text_and_vector(api, api_user, web, engine):
    page_id = _some_page_ids(1)[0]
    html, truth = _real_page(page_id)
    web.route("/news/story", html, content_type="text/html; charset=utf-8")
    saved = await _save(api, api_user, web.url("/news/story?utm_source=feed"), tags=["news"])
    assert saved["status"] == "pending"

    ready = await _settled(api, api_user, saved["id"])
    assert ready["status"] == "ready", ready
    assert ready["error_code"] is None
    # The article's own words are there, and the page title was found.
    first_sentence = truth.split(".")[0][:60]
    assert first_sentence.lower() in " ".join(ready["text"].split()).lower()
    assert ready["title"] and ready["word_count"] > 50
    assert ready["reading_time_minutes"] >= 1 and ready["content_hash"]
    assert 0 <= ready["quality"] <= 100
    vector = await _vector(engine, saved["id"])
    assert vector is not None and len(vector) == 384
    assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-3)


async def test_status_changes_are_streamed(api, api_user, web):
    web.route("/streamed", "<html><head><title>Streamed</title></head><body><article>"
              + "<p>A paragraph about streaming server-sent events to browsers. </p>" * 20
              + "</article></body></html>")  # fmt: skip
    seen: list[str] = []

    async def listen() -> None:
        event = ""
        async with api.stream("GET", "/api/events", headers=api_user.headers) as r:
            async for line in r.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]  # status changes, among others (a card picture's)
                elif line.startswith("data: ") and event == "bookmark.status":
                    seen.append(json.loads(line[6:])["status"])
                    if seen[-1] in ("ready", "failed"):
                        return

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.5)
    await _save(api, api_user, web.url("/streamed"))
    await asyncio.wait_for(listener, 60)
    assert seen[0] == "fetching" and seen[-1] == "ready"
    assert seen == sorted(seen, key=["fetching", "extracting", "embedding", "ready"].index)


async def test_a_404_fails_at_once_with_the_reason(api, api_user, web):
    web.route("/gone", "<h1>Not here</h1>", status=404)
    before = web.hits["/gone"]
    b = await _settled(api, api_user, (await _save(api, api_user, web.url("/gone")))["id"])
    assert b["status"] == "failed"
    assert b["error_code"] == "http_error" and "404" in b["error_message"]
    assert web.hits["/gone"] - before == 1  # a permanent failure is not retried


async def test_a_500_is_retried_then_succeeds(api, api_user, web):
    page = (
        "<html><head><title>Flaky</title></head><body><article>"
        + "<p>Eventually consistent storage systems recover from partial failures. </p>" * 15
        + "</article></body></html>"
    )
    web.route("/flaky", "oops", status=500)
    saved = await _save(api, api_user, web.url("/flaky"))

    async def retried():  # type: ignore[no-untyped-def]
        return web.hits["/flaky"] >= 2

    await wait_for(retried, within=30)
    web.route("/flaky", page)
    b = await _settled(api, api_user, saved["id"])
    assert b["status"] == "ready" and b["title"] == "Flaky"


async def test_a_slow_server_times_out_and_fails_after_retries(api, api_user, web):
    web.route("/tarpit", "<p>late</p>", delay=30)
    b = await _settled(
        api, api_user, (await _save(api, api_user, web.url("/tarpit")))["id"], within=90
    )
    assert b["status"] == "failed"
    assert b["error_code"] == "timeout" and "gave up after" in b["error_message"]


async def test_a_50_mb_body_fails_as_too_large(api, api_user, web):
    b = await _settled(api, api_user, (await _save(api, api_user, web.url("/big/chunked")))["id"])
    assert b["status"] == "failed" and b["error_code"] == "too_large"


async def test_a_non_utf8_page_comes_out_right(api, api_user, web):
    from tests.fakes.web import CP1251_TEXT

    body = (
        "<html><head><meta charset='windows-1251'><title>Панграмма</title></head><body><article>"
        + f"<p>{CP1251_TEXT}. Это предложение повторяется, чтобы текст был длиннее.</p>" * 8
        + "</article></body></html>"
    ).encode("windows-1251")
    web.route("/ru", body, content_type="text/html")
    b = await _settled(api, api_user, (await _save(api, api_user, web.url("/ru")))["id"])
    assert b["status"] == "ready", b
    assert CP1251_TEXT in b["text"] and b["title"] == "Панграмма"


async def test_captured_html_is_used_and_nothing_is_fetched(api, api_user, web):
    web.route("/behind-login", "<p>Please sign in</p>", status=403)
    captured = (
        "<html><head><title>My dashboard</title></head><body><main>"
        + "<p>Quarterly numbers that only a signed-in user can see, rendered by JavaScript. </p>"
        * 10
        + "</main></body></html>"
    )
    before = web.hits["/behind-login"]
    saved = await _save(api, api_user, web.url("/behind-login"), html=captured)
    b = await _settled(api, api_user, saved["id"])
    assert b["status"] == "ready" and "Quarterly numbers" in b["text"]
    assert web.hits["/behind-login"] == before


async def test_binary_captured_content_is_refused_and_nothing_is_saved(api, api_user):
    r = await api.post(
        "/api/bookmarks",
        headers=api_user.headers,
        json={"url": "https://example.invalid/x", "html": "%PDF-1.7\x00\x01\x02" * 50},
    )
    assert r.status_code == 422 and "NUL" in r.json()["error"]["message"]
    page = (await api.get("/api/bookmarks", headers=api_user.headers)).json()
    assert all(b["url"] != "https://example.invalid/x" for b in page["items"])


async def test_binary_content_from_the_web_fails_clearly(api, api_user, web):
    b = await _settled(api, api_user, (await _save(api, api_user, web.url("/binary")))["id"])
    assert b["status"] == "failed" and b["error_code"] == "not_html"


async def test_markup_without_text_fails_clearly(api, api_user, web):
    web.route(
        "/empty-shell",
        "<html><head><script>app()</script></head><body><div id=root></div></body></html>",
    )
    b = await _settled(api, api_user, (await _save(api, api_user, web.url("/empty-shell")))["id"])
    assert b["status"] == "failed" and b["error_code"].startswith("extract_")
    assert b["error_message"]


async def test_refresh_processes_the_page_again(api, api_user, web, engine):
    def page(word: str) -> str:
        return (
            f"<html><head><title>{word}</title></head><body><article>"
            + f"<p>{word} is the word of the day in this long paragraph. </p>" * 12
            + "</article></body></html>"
        )

    web.route("/changing", page("Alpha"))
    saved = await _save(api, api_user, web.url("/changing"))
    assert (await _settled(api, api_user, saved["id"]))["title"] == "Alpha"
    before = await _vector(engine, saved["id"])
    web.route("/changing", page("Bravo"))
    r = await api.post(f"/api/bookmarks/{saved['id']}/refresh", headers=api_user.headers)
    assert r.status_code == 202
    b = await _settled(api, api_user, saved["id"])
    assert b["title"] == "Bravo" and "Bravo" in b["text"]
    # The new text is embedded in place of the old (what search and recommendations read).
    after = await _vector(engine, saved["id"])
    assert before is not None and after is not None and after != before
    r = await api.delete(f"/api/bookmarks/{saved['id']}", headers=api_user.headers)
    assert r.status_code == 204
    assert await _vector(engine, saved["id"]) is None  # the vector goes with its bookmark


async def test_a_burst_of_saves_all_become_ready(api, api_user, web):
    ids = _some_page_ids(12)
    for pid in ids:
        web.route(f"/burst/{pid}", _real_page(pid)[0], content_type="text/html; charset=utf-8")
    saved = await asyncio.gather(*(_save(api, api_user, web.url(f"/burst/{pid}")) for pid in ids))
    settled = await asyncio.gather(*(_settled(api, api_user, s["id"], within=120) for s in saved))
    assert [b["status"] for b in settled] == ["ready"] * len(ids)
    assert len({b["content_hash"] for b in settled}) == len(ids)


async def test_the_worker_killed_mid_job_finishes_after_a_restart(
    api, api_user, web, pipeline_worker
):
    web.route("/slowish", "<html><head><title>Patience</title></head><body><article>" + "<p>Good things come to those who wait for their workers to restart. </p>" * 10 + "</article></body></html>", delay=0.8)  # fmt: skip
    saved = await _save(api, api_user, web.url("/slowish"))

    async def fetching():  # type: ignore[no-untyped-def]
        return web.hits["/slowish"] >= 1

    await wait_for(fetching, within=30, interval=0.02)
    pipeline_worker.kill()
    pipeline_worker.start()
    b = await _settled(api, api_user, saved["id"], within=90)
    assert b["status"] == "ready" and b["title"] == "Patience"


async def test_other_users_never_see_my_bookmarks(api, api_user, api_user2, web):
    web.route(
        "/mine",
        "<html><head><title>Mine</title></head><body><p>"
        + "secret words " * 50
        + "</p></body></html>",
    )
    saved = await _save(api, api_user, web.url("/mine"))
    r = await api.get(f"/api/bookmarks/{saved['id']}", headers=api_user2.headers)
    assert r.status_code == 404
    # The same URL saved by another user is their own, separate bookmark.
    theirs = await _save(api, api_user2, web.url("/mine"))
    assert theirs["id"] != saved["id"]
    assert uuid.UUID(theirs["id"])
