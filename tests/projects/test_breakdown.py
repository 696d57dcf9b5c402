"""Gemini's part in projects, with the user's own key: the intent of a project, and the proposed
breakdown into tasks and subtasks that the user accepts."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app.projects import jobs as project_jobs
from tests.analysis.conftest import store_key
from tests.fakes.gemini import error_answer, json_answer, text_answer

PROPOSAL = {
    "tasks": [
        {
            "title": "Design the schema",
            "description": "Tables for  users and   bookmarks.",
            "subtasks": [{"title": "Draw the tables"}, {"title": "Write the migration"}],
        },
        {"title": "Write the API", "description": "", "subtasks": [{"title": "Routes"}]},
        # Already a task of the project: not proposed again.
        {"title": "set up CI", "description": "", "subtasks": []},
    ]
}


async def _project(client, account, **fields):  # type: ignore[no-untyped-def]
    r = await client.post(
        "/api/projects",
        headers=account.headers,
        json={
            "title": "Bookmark manager",
            "description": "Build a self-hosted bookmark manager with FastAPI.",
            "technologies": ["FastAPI", "PostgreSQL"],
            **fields,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_breakdown_needs_a_key(client, alice):
    project = await _project(client, alice)
    r = await client.post(f"/api/projects/{project['id']}/breakdown", headers=alice.headers)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "no_gemini_key"
    assert "/api/users/me/gemini-key" in r.json()["error"]["message"]


async def test_a_breakdown_is_proposed_then_accepted(client, alice, bob, db, gemini):
    key = await store_key(client, alice, gemini)
    await store_key(client, bob, gemini)
    gemini.structured[key] = PROPOSAL
    project = await _project(client, alice)
    r = await client.post(
        f"/api/projects/{project['id']}/tasks", headers=alice.headers, json={"title": "Set up CI"}
    )
    assert r.status_code == 201

    r = await client.post(
        f"/api/projects/{project['id']}/breakdown",
        headers=alice.headers,
        json={"instructions": "I have two weekends.", "max_tasks": 5},
    )
    assert r.status_code == 200, r.text
    proposal = r.json()
    assert proposal["project_id"] == project["id"]
    assert [t["title"] for t in proposal["tasks"]] == ["Design the schema", "Write the API"]
    assert proposal["tasks"][0]["description"] == "Tables for users and bookmarks."
    assert [s["title"] for s in proposal["tasks"][0]["subtasks"]] == [
        "Draw the tables",
        "Write the migration",
    ]
    # Alice's key, and only hers; the prompt has the project, its tasks and her words.
    [call] = [c for c in gemini.calls_with(key) if "Bookmark manager" in str(c.body)]
    prompt = call.body["contents"][0]["parts"][0]["text"]
    assert "FastAPI" in prompt and "- Set up CI" in prompt and "two weekends" in prompt
    assert call.body["generationConfig"]["responseSchema"]["properties"]["tasks"]
    # Nothing was saved by proposing.
    tasks = (await client.get(f"/api/projects/{project['id']}/tasks", headers=alice.headers)).json()
    assert [t["title"] for t in tasks["items"]] == ["Set up CI"]

    # Alice keeps the first task, edited, and the second.
    kept = [
        {**proposal["tasks"][0], "title": "Design the database schema"},
        proposal["tasks"][1],
    ]
    r = await client.post(
        f"/api/projects/{project['id']}/breakdown/accept",
        headers=alice.headers,
        json={"tasks": kept},
    )
    assert r.status_code == 201, r.text
    created = r.json()["items"]
    assert [(t["title"], t["position"]) for t in created] == [
        ("Design the database schema", 1),
        ("Write the API", 2),
    ]
    assert [s["title"] for s in created[0]["subtasks"]] == [
        "Draw the tables",
        "Write the migration",
    ]
    tasks = (await client.get(f"/api/projects/{project['id']}/tasks", headers=alice.headers)).json()
    assert [t["title"] for t in tasks["items"]] == [
        "Set up CI",
        "Design the database schema",
        "Write the API",
    ]
    missing = (
        await db.execute(
            text(
                "SELECT (SELECT count(*) FROM tasks WHERE project_id = :p AND embedding IS NULL)"
                " + (SELECT count(*) FROM subtasks s JOIN tasks t ON t.id = s.task_id"
                "    WHERE t.project_id = :p AND s.embedding IS NULL)"
            ),
            {"p": project["id"]},
        )
    ).scalar()
    assert missing == 0


@pytest.mark.parametrize(
    ("answer", "status", "code"),
    [
        (error_answer(400, "INVALID_ARGUMENT", "API key not valid."), 400, "gemini_key_invalid"),
        (error_answer(429, "RESOURCE_EXHAUSTED", "Quota", retry_delay="12s"), 429, None),
        (error_answer(500, "INTERNAL", "oops"), 503, "gemini_unavailable"),
        (text_answer("Sure! Here are some tasks: ..."), 503, "gemini_bad_output"),
        (json_answer({"tasks": "none"}), 503, "gemini_bad_output"),
    ],
)
async def test_gemini_failures_answer_clearly(client, alice, gemini, answer, status, code):  # type: ignore[no-untyped-def]
    key = await store_key(client, alice, gemini)
    project = await _project(client, alice)
    gemini.script[key] = [answer]
    r = await client.post(f"/api/projects/{project['id']}/breakdown", headers=alice.headers)
    assert r.status_code == status, r.text
    if code:
        assert r.json()["error"]["code"] == code
    if status == 429:
        assert r.headers["Retry-After"] == "12"
        assert "quota" in r.json()["error"]["message"].lower()


async def test_a_breakdown_waits_for_a_free_slot_then_says_busy(
    client, alice, gemini, settings, redis, monkeypatch
):
    from app.analysis import service as analysis
    from app.projects import service

    await store_key(client, alice, gemini)
    project = await _project(client, alice)
    alice_id = (await client.get("/api/users/me", headers=alice.headers)).json()["id"]
    limit = settings.gemini_concurrency_per_user
    held = [await analysis.try_acquire_slot(redis, alice_id, limit, 30) for _ in range(limit)]
    monkeypatch.setattr(service, "BREAKDOWN_SLOT_WAIT_SECONDS", 0.3)
    r = await client.post(f"/api/projects/{project['id']}/breakdown", headers=alice.headers)
    assert r.status_code == 429 and r.json()["error"]["code"] == "gemini_busy"
    assert r.headers["Retry-After"]
    await analysis.release_slot(redis, alice_id, held[0])
    r = await client.post(f"/api/projects/{project['id']}/breakdown", headers=alice.headers)
    assert r.status_code == 200


async def test_a_slow_gemini_is_a_503_not_a_hang(client, alice, gemini, settings, monkeypatch):
    key = await store_key(client, alice, gemini)
    project = await _project(client, alice)
    monkeypatch.setattr(settings, "gemini_timeout_seconds", 0.5)
    gemini.script[key] = ["slow:3"]
    r = await client.post(f"/api/projects/{project['id']}/breakdown", headers=alice.headers)
    assert r.status_code == 503 and r.json()["error"]["code"] == "gemini_timeout"


async def test_the_intent_is_read_by_gemini_with_the_owners_key(
    client, alice, redis, gemini, job_ctx
):
    key = await store_key(client, alice, gemini)
    gemini.structured[key] = {
        "goal": "build",
        "summary": "A self-hosted bookmark manager.",
        "skills": ["API design", "SQL"],
        "concepts": ["full-text search"],
        "technologies": ["Redis", "fastapi"],
    }
    project = await _project(client, alice, description="Learn by building a bookmark manager.")
    # At once: the keyword intent, and Gemini's on its way.
    assert project["intent_status"] == "pending" and project["intent"]["source"] == "rules"
    queued = [j for j in await redis.queued_jobs() if j.function == "analyse_project"]
    assert [j.args for j in queued] == [(project["id"], 1)]

    assert await project_jobs.analyse_project(job_ctx, project["id"], 1) == "ready"
    got = (await client.get(f"/api/projects/{project['id']}", headers=alice.headers)).json()
    assert got["intent_status"] == "ready" and got["intent_error"] is None
    intent = got["intent"]
    assert intent["source"] == "gemini" and intent["goal"] == "build"
    assert intent["skills"] == ["API design", "SQL"] and intent["concepts"] == ["full-text search"]
    assert intent["technologies"] == ["FastAPI", "PostgreSQL", "Redis"]
    assert [c.api_key for c in gemini.calls if "Learn by building" in str(c.body)] == [key]

    # A status change is not a new text: nothing is asked again.
    await redis.delete("arq:queue")
    await client.patch(
        f"/api/projects/{project['id']}", headers=alice.headers, json={"status": "paused"}
    )
    assert not await redis.queued_jobs()
    # A new text is, and the job of the old text no longer counts.
    r = await client.patch(
        f"/api/projects/{project['id']}", headers=alice.headers, json={"title": "Fix the crawler"}
    )
    assert r.json()["intent_status"] == "pending" and r.json()["intent"]["goal"] == "debug"
    assert [j.args for j in await redis.queued_jobs()] == [(project["id"], 2)]
    assert await project_jobs.analyse_project(job_ctx, project["id"], 1) == "stale"


async def test_a_failed_intent_keeps_the_keyword_intent_and_says_why(
    client, alice, gemini, job_ctx
):
    key = await store_key(client, alice, gemini)
    gemini.script[key] = [error_answer(403, "PERMISSION_DENIED", "API not enabled")]
    project = await _project(client, alice, title="Research vector databases")
    assert await project_jobs.analyse_project(job_ctx, project["id"], 1) == "failed"
    got = (await client.get(f"/api/projects/{project['id']}", headers=alice.headers)).json()
    assert got["intent_status"] == "failed" and "enabled" in got["intent_error"]
    assert got["intent"]["goal"] == "research" and got["intent"]["source"] == "rules"


async def test_the_breakdown_flow_is_documented(client):
    spec = (await client.get("/openapi.json")).json()
    propose = spec["paths"]["/api/projects/{project_id}/breakdown"]["post"]
    accept = spec["paths"]["/api/projects/{project_id}/breakdown/accept"]["post"]
    assert "/breakdown/accept" in propose["description"]
    assert "no_gemini_key" in propose["description"]
    assert {"400", "404", "429", "503"} <= set(propose["responses"])
    assert propose["operationId"] == "projects-propose_breakdown"
    assert "201" in accept["responses"]
