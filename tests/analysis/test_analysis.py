"""Content analysis with each user's own Gemini key: the job run in-process against the test's
transaction, the real google-genai client against the local Gemini (tests/fakes/gemini.py)."""

from __future__ import annotations

import asyncio
import json

import pytest
from arq import Retry
from sqlalchemy import text

from app.analysis import jobs, service
from tests.analysis.conftest import get_bookmark, ready_bookmark, store_key
from tests.fakes.gemini import error_answer, json_answer, text_answer

PAGE = {
    "summary": "How B-tree indexes   speed up lookups in PostgreSQL.",
    "key_concepts": ["B-tree", "index scan", "b-tree"],
    "content_type": "tutorial",
    "difficulty": "intermediate",
    "technologies": ["PostgreSQL", "postgresql", "SQL"],
    "topics": ["databases"],
    "suggested_tags": ["POSTGRES", "data-bases", "indexing", "performance", "btree", "sql"],
}


async def _run(ctx, bookmark_id: str, run: int = 1) -> str:  # type: ignore[no-untyped-def]
    return await jobs.analyse_bookmark(ctx, bookmark_id, run)


async def _run_until_done(ctx, bookmark_id: str, tries: int = 10) -> list[float]:  # type: ignore[no-untyped-def]
    """As arq would: run again after each Retry; returns the delays asked for."""
    delays: list[float] = []
    for attempt in range(1, tries + 1):
        ctx["job_try"] = attempt
        try:
            await _run(ctx, bookmark_id)
            return delays
        except Retry as retry:
            delays.append(retry.defer_score / 1000 if retry.defer_score else 0)
    raise AssertionError("still retrying")


async def test_without_a_key_the_analysis_is_skipped_not_failed(client, alice, db, job_ctx, gemini):
    saved = await ready_bookmark(client, db, alice)
    calls = len(gemini.calls)
    assert await _run(job_ctx, saved["id"]) == "skipped: no_gemini_key"
    assert len(gemini.calls) == calls  # Gemini was never asked
    got = await get_bookmark(client, alice, saved["id"])
    assert got["status"] == "ready"
    assert got["analysis_status"] == "skipped"
    assert "Gemini API key" in got["analysis_error"]
    assert got["analysis"]["status"] == "skipped" and got["analysis"]["summary"] is None


async def test_a_page_is_analysed_with_its_owners_key(client, alice, bob, db, job_ctx, gemini):
    alice_key = await store_key(client, alice, gemini)
    bob_key = await store_key(client, bob, gemini)
    gemini.structured[alice_key] = PAGE
    gemini.structured[bob_key] = {**PAGE, "summary": "Bob's page."}
    # Alice's existing tags, spelled her way; the answer's POSTGRES / data-bases map onto them.
    mine = await ready_bookmark(client, db, alice, tags=["Postgres", "Databases", "cooking"])
    theirs = await ready_bookmark(client, db, bob, title="Bob's page")

    assert await _run(job_ctx, mine["id"]) == "ready"
    assert await _run(job_ctx, theirs["id"]) == "ready"

    [alice_call] = gemini.calls_with(alice_key)
    [bob_call] = gemini.calls_with(bob_key)
    assert alice_call.path.startswith(f"/v1beta/models/{job_ctx['settings'].gemini_model}:")
    # Structured output: JSON with the Pydantic model as the response schema.
    config = alice_call.body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert set(config["responseSchema"]["properties"]) >= {
        "summary",
        "key_concepts",
        "content_type",
        "difficulty",
        "technologies",
        "topics",
        "suggested_tags",
    }
    prompt = alice_call.body["contents"][0]["parts"][0]["text"]
    assert "Postgres, Databases, cooking" in prompt or "Databases" in prompt
    assert "B-tree indexes make lookups fast." in prompt
    assert (
        "Bob's page" not in prompt
        and "Alice" not in bob_call.body["contents"][0]["parts"][0]["text"]
    )

    got = await get_bookmark(client, alice, mine["id"])
    assert got["analysis_status"] == "ready" and got["analysis_error"] is None
    analysis = got["analysis"]
    assert analysis["summary"] == "How B-tree indexes speed up lookups in PostgreSQL."
    assert analysis["content_type"] == "tutorial" and analysis["difficulty"] == "intermediate"
    assert analysis["technologies"] == ["PostgreSQL", "SQL"]
    assert analysis["key_concepts"] == ["B-tree", "index scan"]
    assert analysis["topics"] == ["databases"]
    # Existing tags first (as Alice spells them), then at most two new ones.
    assert analysis["suggested_tags"] == ["Postgres", "Databases", "indexing", "performance"]
    assert analysis["model"] == job_ctx["settings"].gemini_model and analysis["analysed_at"]
    # Suggestions are not applied by themselves.
    assert got["tags"] == ["cooking", "Databases", "Postgres"]
    assert (await get_bookmark(client, bob, theirs["id"]))["analysis"]["summary"] == "Bob's page."

    listed = (await client.get("/api/bookmarks", headers=alice.headers)).json()["items"]
    assert [b["analysis_status"] for b in listed] == ["ready"]


async def test_the_text_sent_is_cut_to_the_budget(client, alice, db, job_ctx, gemini, monkeypatch):
    key = await store_key(client, alice, gemini)
    monkeypatch.setattr(job_ctx["settings"], "gemini_analysis_max_chars", 2000)
    body = "".join(f"Paragraph {i} about consensus protocols.\n\n" for i in range(3000))
    saved = await ready_bookmark(client, db, alice, body=body)
    assert await _run(job_ctx, saved["id"]) == "ready"
    prompt = gemini.calls_with(key)[-1].body["contents"][0]["parts"][0]["text"]
    page = prompt.split("<page>\n", 1)[1]
    assert len(body) > 100_000 and len(page) < 2100
    assert page.startswith("Paragraph 0 ") and "Paragraph 2999" not in page
    assert "[…]" in page


async def test_a_429_backs_off_as_gemini_asks_then_succeeds(client, alice, db, job_ctx, gemini):
    key = await store_key(client, alice, gemini)
    gemini.script[key] = [
        error_answer(429, "RESOURCE_EXHAUSTED", "Quota exceeded", retry_delay="7s"),
        error_answer(500, "INTERNAL", "oops"),
    ]
    saved = await ready_bookmark(client, db, alice)

    with pytest.raises(Retry) as first:
        await _run(job_ctx, saved["id"])
    assert first.value.defer_score >= 7000  # Gemini's RetryInfo is honoured
    waiting = await get_bookmark(client, alice, saved["id"])
    assert waiting["analysis_status"] == "pending"
    assert (
        "quota" in waiting["analysis_error"].lower() and "Retrying in" in waiting["analysis_error"]
    )

    delays = await _run_until_done(job_ctx, saved["id"])
    assert len(delays) == 1  # the 500 once more, then the answer
    done = await get_bookmark(client, alice, saved["id"])
    assert done["analysis_status"] == "ready" and done["analysis_error"] is None
    assert len(gemini.calls_with(key)) == 3


async def test_5xx_until_the_limit_fails_with_the_reason(client, alice, db, job_ctx, gemini):
    key = await store_key(client, alice, gemini)
    tries = job_ctx["settings"].gemini_max_tries
    gemini.script[key] = [error_answer(503, "UNAVAILABLE", "overloaded")] * (tries + 2)
    saved = await ready_bookmark(client, db, alice)
    delays = await _run_until_done(job_ctx, saved["id"])
    assert len(delays) == tries - 1
    assert delays == sorted(delays)  # backoff grows
    got = await get_bookmark(client, alice, saved["id"])
    assert got["analysis_status"] == "failed"
    assert f"gave up after {tries} tries" in got["analysis_error"]
    assert got["analysis"]["error_code"] == "gemini_unavailable"
    assert len(gemini.calls_with(key)) == tries


@pytest.mark.parametrize(
    ("answer", "code", "words"),
    [
        (
            error_answer(
                400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."
            ),
            "gemini_key_invalid",
            "refused your API key",
        ),
        (
            error_answer(403, "PERMISSION_DENIED", "Generative Language API has not been used"),
            "gemini_forbidden",
            "enabled",
        ),
    ],
)
async def test_a_refused_key_fails_at_once(client, alice, db, job_ctx, gemini, answer, code, words):  # type: ignore[no-untyped-def]
    key = await store_key(client, alice, gemini)
    gemini.script[key] = [answer]
    saved = await ready_bookmark(client, db, alice)
    assert await _run(job_ctx, saved["id"]) == f"failed: {code}"
    got = await get_bookmark(client, alice, saved["id"])
    assert got["analysis_status"] == "failed" and words in got["analysis_error"]
    assert len(gemini.calls_with(key)) == 1  # not retried


async def test_a_key_gemini_does_not_know_is_refused(client, alice, db, job_ctx, gemini):
    # Stored while Gemini could not check it (rate-limited), but not valid at Gemini: the fake
    # answers as Gemini does (400, "API key not valid").
    gemini.script["not-a-real-key-1234"] = [error_answer(429, "RESOURCE_EXHAUSTED", "Quota")]
    r = await client.put(
        "/api/users/me/gemini-key", headers=alice.headers, json={"api_key": "not-a-real-key-1234"}
    )
    assert r.status_code == 200 and r.json()["key_check"]["state"] == "unverified"
    saved = await ready_bookmark(client, db, alice)
    assert await _run(job_ctx, saved["id"]) == "failed: gemini_key_invalid"
    assert gemini.calls_with("not-a-real-key-1234")


async def test_a_refused_key_is_not_tried_again_for_every_queued_page(
    client, alice, db, job_ctx, gemini
):
    await store_key(client, alice, gemini, "revoked-key-5678")
    gemini.valid_keys.discard("revoked-key-5678")  # revoked since it was stored
    pages = [await ready_bookmark(client, db, alice) for _ in range(3)]
    for page in pages:
        assert await _run(job_ctx, page["id"]) == "failed: gemini_key_invalid"
    assert len(gemini.calls_with("revoked-key-5678")) == 1
    # A new key is tried at once.
    key = await store_key(client, alice, gemini)
    another = await ready_bookmark(client, db, alice)
    assert await _run(job_ctx, another["id"]) == "ready"
    assert len(gemini.calls_with(key)) == 1


async def test_malformed_output_is_retried_then_the_good_answer_kept(
    client, alice, db, job_ctx, gemini
):
    key = await store_key(client, alice, gemini)
    gemini.script[key] = [
        text_answer("{not json"),
        json_answer({"summary": "no other fields"}),
        json_answer({**PAGE, "content_type": "podcast", "difficulty": "expert"}),
    ]
    saved = await ready_bookmark(client, db, alice)
    delays = await _run_until_done(job_ctx, saved["id"])
    assert len(delays) == 2
    analysis = (await get_bookmark(client, alice, saved["id"]))["analysis"]
    # Values outside the lists are read leniently rather than thrown away.
    assert analysis["content_type"] == "other" and analysis["difficulty"] == "intermediate"
    assert analysis["summary"].startswith("How B-tree")


async def test_malformed_output_every_time_fails_with_a_clear_reason(
    client, alice, db, job_ctx, gemini
):
    key = await store_key(client, alice, gemini)
    gemini.script[key] = [text_answer("I think this page is about databases.")] * 10
    saved = await ready_bookmark(client, db, alice)
    await _run_until_done(job_ctx, saved["id"])
    got = await get_bookmark(client, alice, saved["id"])
    assert got["analysis_status"] == "failed"
    assert got["analysis"]["error_code"] == "gemini_bad_output"


async def test_a_slow_answer_times_out_and_is_retried(
    client, alice, db, job_ctx, gemini, monkeypatch
):
    key = await store_key(client, alice, gemini)
    monkeypatch.setattr(job_ctx["settings"], "gemini_timeout_seconds", 0.5)
    gemini.script[key] = ["slow:3"]
    saved = await ready_bookmark(client, db, alice)
    with pytest.raises(Retry):
        await _run(job_ctx, saved["id"])
    waiting = await get_bookmark(client, alice, saved["id"])
    assert waiting["analysis_status"] == "pending"
    assert "did not answer in time" in waiting["analysis_error"]
    await _run_until_done(job_ctx, saved["id"])
    assert (await get_bookmark(client, alice, saved["id"]))["analysis_status"] == "ready"


async def test_a_user_at_the_concurrency_limit_waits_and_others_do_not(
    client, alice, bob, db, job_ctx, gemini, redis, settings
):
    alice_key = await store_key(client, alice, gemini)
    await store_key(client, bob, gemini)
    background = service.background_limit(settings)
    assert background == settings.gemini_concurrency_per_user - 1
    mine = await ready_bookmark(client, db, alice)
    theirs = await ready_bookmark(client, db, bob)
    alice_id = (await client.get("/api/users/me", headers=alice.headers)).json()["id"]
    held = [
        await service.try_acquire_slot(redis, alice_id, background, 30) for _ in range(background)
    ]
    assert all(held)

    with pytest.raises(Retry) as waited:
        await _run(job_ctx, mine["id"])
    assert waited.value.defer_score and waited.value.defer_score > 0
    assert not gemini.calls_with(alice_key)  # no call while Alice's slots are taken
    assert await _run(job_ctx, theirs["id"]) == "ready"  # Bob is not held up by Alice
    # What Alice waits for (a breakdown) still gets the slot kept for it.
    async with service.slot(redis, alice_id, settings, wait=0, lease=5) as got:
        assert got

    await service.release_slot(redis, alice_id, held[0])
    assert await _run(job_ctx, mine["id"]) == "ready"
    assert len(gemini.calls_with(alice_key)) == 1


async def test_a_lease_of_a_killed_worker_runs_out(redis):
    user = "00000000-0000-0000-0000-000000000001"
    assert await service.try_acquire_slot(redis, user, 1, 0.3)
    assert await service.try_acquire_slot(redis, user, 1, 0.3) is None
    await asyncio.sleep(0.4)
    assert await service.try_acquire_slot(redis, user, 1, 0.3)


async def test_concurrent_calls_of_one_user_stay_within_the_limit(
    client, alice, db, job_ctx, gemini, redis, settings
):
    key = await store_key(client, alice, gemini)
    alice_id = (await client.get("/api/users/me", headers=alice.headers)).json()["id"]
    gemini.script[key] = ["slow:0.3"] * 6

    async def one_call() -> None:
        async with service.slot(redis, alice_id, settings, wait=30, lease=30) as got:
            assert got
            await service.generate(
                settings, key, system="s", prompt="p", schema=service.PageAnalysis
            )

    await asyncio.gather(*(one_call() for _ in range(6)))
    assert gemini.max_in_flight[key] == settings.gemini_concurrency_per_user


async def test_storing_a_key_analyses_what_was_saved_before(
    client, alice, db, job_ctx, gemini, redis
):
    first = await ready_bookmark(client, db, alice)
    second = await ready_bookmark(client, db, alice)
    for saved in (first, second):
        assert await _run(job_ctx, saved["id"]) == "skipped: no_gemini_key"
    project = (
        await client.post("/api/projects", headers=alice.headers, json={"title": "Learn SQL"})
    ).json()
    assert project["intent_status"] == "skipped"
    await redis.delete("arq:queue")

    key = await store_key(client, alice, gemini)
    [backlog] = [j for j in await redis.queued_jobs() if j.function == "analyse_backlog"]
    assert await jobs.analyse_backlog(job_ctx, *backlog.args) == 2
    queued = {j.args[0] for j in await redis.queued_jobs() if j.function == "analyse_bookmark"}
    assert queued == {first["id"], second["id"]}
    pending = await get_bookmark(client, alice, first["id"])
    assert pending["analysis_status"] == "pending"
    # The project's intent is read again too, now that there is a key.
    assert [j.function for j in await redis.queued_jobs()].count("analyse_project") == 1

    for saved in (first, second):
        assert await _run(job_ctx, saved["id"]) == "ready"
        assert (await get_bookmark(client, alice, saved["id"]))["analysis_status"] == "ready"
    assert len(gemini.calls_with(key)) == 2
    # Nothing left to do: a second pass queues nothing.
    assert await jobs.analyse_backlog(job_ctx, *backlog.args) == 0


async def test_status_changes_are_published_on_the_events_channel(
    client, alice, db, job_ctx, gemini, redis
):
    await store_key(client, alice, gemini)
    saved = await ready_bookmark(client, db, alice)
    alice_id = (await client.get("/api/users/me", headers=alice.headers)).json()["id"]
    pubsub = redis.pubsub()
    await pubsub.subscribe(f"fuze:events:{alice_id}")
    await pubsub.get_message(timeout=1)
    assert await _run(job_ctx, saved["id"]) == "ready"
    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
    await pubsub.aclose()
    payload = json.loads(message["data"])
    assert payload["event"] == "bookmark.analysis"
    assert payload["data"]["id"] == saved["id"]
    assert payload["data"]["analysis_status"] == "ready" and payload["data"]["status"] == "ready"


async def test_a_refresh_with_the_same_text_does_not_ask_gemini_again(
    client, alice, db, job_ctx, gemini
):
    key = await store_key(client, alice, gemini)
    saved = await ready_bookmark(client, db, alice)
    assert await _run(job_ctx, saved["id"]) == "ready"
    r = await client.post(f"/api/bookmarks/{saved['id']}/refresh", headers=alice.headers)
    assert r.status_code == 202 and r.json()["analysis_status"] == "pending"
    # The pipeline ran again (run 2) and found the same text.
    await db.execute(
        text("UPDATE bookmarks SET status = 'ready' WHERE id = :id"), {"id": saved["id"]}
    )
    assert await jobs.analyse_bookmark(job_ctx, saved["id"], 2) == "ready"
    assert len(gemini.calls_with(key)) == 1
    got = await get_bookmark(client, alice, saved["id"])
    assert got["analysis_status"] == "ready" and got["analysis"]["summary"]
    # An old run's job does nothing.
    assert await jobs.analyse_bookmark(job_ctx, saved["id"], 1) == "stale"


async def test_a_page_that_failed_is_not_analysed(client, alice, db, job_ctx):
    saved = await ready_bookmark(client, db, alice)
    await db.execute(
        text("UPDATE bookmarks SET status = 'failed', error_code = 'http_error' WHERE id = :id"),
        {"id": saved["id"]},
    )
    assert await _run(job_ctx, saved["id"]) == "stale"
    got = await get_bookmark(client, alice, saved["id"])
    assert got["analysis_status"] == "skipped" and "could not be processed" in got["analysis_error"]


async def test_the_sweeper_queues_analyses_left_pending(client, alice, db, job_ctx, redis):
    saved = await ready_bookmark(client, db, alice)
    await db.execute(
        text(
            "INSERT INTO content_analysis (bookmark_id, user_id, status, run, updated_at)"
            " SELECT id, user_id, 'pending', run, now() - interval '1 hour' FROM bookmarks"
            " WHERE id = :id"
        ),
        {"id": saved["id"]},
    )
    await redis.delete("arq:queue")
    assert await jobs.sweep(job_ctx) >= 1
    queued = [(j.function, j.args) for j in await redis.queued_jobs()]
    assert ("analyse_bookmark", (saved["id"], 1)) in queued


def test_suggested_tags_prefer_the_users_own():
    existing = ["Machine Learning", "python", "Databases"]
    suggested = ["machine-learning", "PYTHON", "#databases", "rust", "Rust", "wasm", "webgpu"]
    assert service.map_tags(suggested, existing, max_new=2) == [
        "Machine Learning",
        "python",
        "Databases",
        "rust",
        "wasm",
    ]
    assert service.map_tags(["new one"], [], max_new=0) == []
    # Names whose marks matter survive, as tags and as technologies.
    assert service.map_tags(["#C#", "c", ".NET"], ["C#", "C"], max_new=1) == ["C#", "C", ".net"]
    assert service.clean_list(["C#", ".NET", "Node.js", "node.js", "Rust."], 10) == [
        "C#",
        ".NET",
        "Node.js",
        "Rust",
    ]
