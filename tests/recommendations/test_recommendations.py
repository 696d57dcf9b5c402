"""Recommendations over real embeddings (the real model), real BM25 postings, real Redis."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import text

from app.db import bind_user
from app.embeddings.service import bookmark_text
from tests.conftest import wait_for

# key: (title, text, tags, analysis: (content_type, difficulty, technologies, key_concepts))
LIBRARY = {
    "fastapi_di": (
        "FastAPI dependency injection in depth",
        "How FastAPI's Depends() wires database sessions, the current user and settings into "
        "route handlers, with yield dependencies for cleanup.",
        [],
        ("tutorial", "intermediate", ["FastAPI", "Python"], ["dependency injection"]),
    ),
    "sqlalchemy_async": (
        "Async SQLAlchemy sessions with PostgreSQL",
        "Using AsyncSession and asyncpg with PostgreSQL: engines, connection pools and "
        "transactions in an async web API.",
        [],
        ("documentation", "intermediate", ["SQLAlchemy", "PostgreSQL"], ["database sessions"]),
    ),
    "pg_indexes": (
        "PostgreSQL index tuning",
        "B-tree, GIN and partial indexes in PostgreSQL, and reading EXPLAIN ANALYZE output to "
        "find slow queries.",
        [],
        ("article", "advanced", ["PostgreSQL"], ["query planning"]),
    ),
    "sourdough": (
        "Sourdough bread at home",
        "A starter of flour and water, a long fermentation and a hot oven make a crisp crust.",
        ["cooking"],
        ("article", "beginner", [], ["baking"]),
    ),
    "watercolor": (
        "Watercolor painting for beginners",
        "Wet-on-wet washes, layering pigments and choosing paper for landscape painting.",
        [],
        ("tutorial", "beginner", [], ["painting"]),
    ),
    "react_hooks": (
        "React hooks explained",
        "useState, useEffect and custom hooks for building interactive user interfaces.",
        [],
        ("tutorial", "beginner", ["React", "JavaScript"], ["hooks"]),
    ),
}


async def _add(db, app, user_id, title, body, tags, analysis):  # type: ignore[no-untyped-def]
    bid = uuid.uuid4()
    vector = await app.state.embedder.embed(bookmark_text(title, None, body))
    await db.execute(
        text(
            "INSERT INTO bookmarks (id, user_id, url, normalized_url, page_title, text, status,"
            " quality, saved_at, updated_at, status_changed_at)"
            " VALUES (:id, :u, :url, :url, :t, :b, 'ready', 70, now(), now(), now())"
        ),
        {"id": bid, "u": user_id, "url": f"https://example.com/{bid}", "t": title, "b": body},
    )  # fmt: skip
    await db.execute(
        text("INSERT INTO bookmark_vectors (bookmark_id, user_id, embedding) VALUES (:id, :u, :e)"),
        {"id": bid, "u": user_id, "e": str(vector.tolist())},
    )
    for tag in tags:
        await db.execute(
            text("INSERT INTO tags (id, user_id, name, created_at) VALUES (:id, :u, :n, now())"
                 " ON CONFLICT DO NOTHING"),
            {"id": uuid.uuid4(), "u": user_id, "n": tag},
        )  # fmt: skip
        await db.execute(
            text("INSERT INTO bookmark_tags SELECT :b, id FROM tags WHERE user_id = :u AND name = :n"),
            {"b": bid, "u": user_id, "n": tag},
        )  # fmt: skip
    if analysis:
        ctype, difficulty, techs, concepts = analysis
        await db.execute(
            text(
                "INSERT INTO content_analysis (bookmark_id, user_id, status, content_type,"
                " difficulty, technologies, key_concepts, created_at, updated_at)"
                " VALUES (:b, :u, 'ready', :c, :d, :t, :k, now(), now())"
            ),
            {"b": bid, "u": user_id, "c": ctype, "d": difficulty, "t": techs, "k": concepts},
        )
    return str(bid)


async def _uid(client, account) -> str:  # type: ignore[no-untyped-def]
    return (await client.get("/api/users/me", headers=account.headers)).json()["id"]


@pytest.fixture
async def library(client, db, app, alice):  # type: ignore[no-untyped-def]
    if not app.state.embedder.loaded:
        await app.state.embedder.load_async()
    uid = await _uid(client, alice)
    return {k: await _add(db, app, uid, *v) for k, v in LIBRARY.items()}


async def _project(client, account, **body):  # type: ignore[no-untyped-def]
    r = await client.post("/api/projects", headers=account.headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def _recs(client, account, path, **params):  # type: ignore[no-untyped-def]
    r = await client.get(path, headers=account.headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _ids(res) -> list[str]:  # type: ignore[no-untyped-def]
    return [i["bookmark"]["id"] for i in res["items"]]


@pytest.fixture
async def api_project(client, alice, library):  # type: ignore[no-untyped-def]
    return await _project(
        client,
        alice,
        title="Build a REST API with FastAPI",
        description="A small web service with async database access and authentication.",
        technologies=["FastAPI", "PostgreSQL"],
    )


async def test_project_recommendations_rank_and_explain(client, alice, library, api_project):
    res = await _recs(client, alice, f"/api/projects/{api_project['id']}/recommendations", limit=4)
    ids = _ids(res)
    assert set(ids[:2]) == {library["fastapi_di"], library["sqlalchemy_async"]}
    assert library["sourdough"] not in ids[:3] and library["watercolor"] not in ids[:3]
    first = res["items"][0]
    assert 0 < first["score"] <= 1 and first["reasons"]
    reasons = {i["bookmark"]["id"]: " ".join(i["reasons"]) for i in res["items"]}
    assert "Covers FastAPI, which this project uses." in reasons[library["fastapi_di"]]
    assert "PostgreSQL" in reasons[library["sqlalchemy_async"]]
    assert first["features"]["technologies"]
    assert res["context"] == {"type": "project", "id": api_project["id"]}
    scores = [i["score"] for i in res["items"]]
    assert scores == sorted(scores, reverse=True) or len(set(scores)) > 1


async def test_irrelevant_leaves_at_once_and_relevant_lifts_similar(
    client, alice, library, api_project
):
    path = f"/api/projects/{api_project['id']}/recommendations"
    before = await _recs(client, alice, path, limit=6)
    top = _ids(before)[0]
    context = {"type": "project", "id": api_project["id"]}
    r = await client.post(
        "/api/feedback",
        headers=alice.headers,
        json={"bookmark_id": top, "context": context, "signal": "irrelevant"},
    )
    assert r.status_code == 201, r.text
    after = await _recs(client, alice, path, limit=6)
    assert top not in _ids(after) and after["cached"] is False
    assert after["data_version"] > before["data_version"]

    # Relevant on the index-tuning article lifts it, and the other PostgreSQL page says why.
    pg = library["pg_indexes"]
    rank_before = _ids(after).index(pg)
    r = await client.post(
        "/api/feedback",
        headers=alice.headers,
        json={"bookmark_id": pg, "context": context, "signal": "relevant"},
    )
    assert r.status_code == 201
    lifted = await _recs(client, alice, path, limit=6)
    assert _ids(lifted).index(pg) < rank_before or _ids(lifted)[0] == pg
    item = next(i for i in lifted["items"] if i["bookmark"]["id"] == pg)
    assert item["features"]["marked_relevant"] is True
    assert "You marked it relevant for this project." in item["reasons"]
    # The same signal again is not a second row; the opposite one replaces it.
    again = await client.post(
        "/api/feedback",
        headers=alice.headers,
        json={"bookmark_id": pg, "context": context, "signal": "relevant"},
    )
    assert again.status_code == 200
    listed = await client.get(
        "/api/feedback",
        headers=alice.headers,
        params={"context_type": "project", "context_id": api_project["id"]},
    )
    assert sorted(f["signal"] for f in listed.json()["items"]) == ["irrelevant", "relevant"]


async def test_cached_until_the_users_data_changes(client, alice, library, api_project):
    path = f"/api/projects/{api_project['id']}/recommendations"
    first = await _recs(client, alice, path)
    second = await _recs(client, alice, path)
    assert first["cached"] is False and second["cached"] is True
    assert second["items"] == first["items"]
    r = await client.patch(
        f"/api/bookmarks/{library['watercolor']}",
        headers=alice.headers,
        json={"notes": "FastAPI PostgreSQL"},
    )
    assert r.status_code == 200
    third = await _recs(client, alice, path)
    assert third["cached"] is False and third["data_version"] > first["data_version"]


async def test_tasks_and_subtasks_use_their_parents(client, alice, library, api_project):
    r = await client.post(
        f"/api/projects/{api_project['id']}/tasks",
        headers=alice.headers,
        json={"title": "Tune the slow database queries", "description": "Indexes and plans."},
    )
    assert r.status_code == 201, r.text
    task = r.json()
    res = await _recs(client, alice, f"/api/tasks/{task['id']}/recommendations", limit=3)
    assert _ids(res)[0] == library["pg_indexes"]
    r = await client.post(
        f"/api/tasks/{task['id']}/subtasks", headers=alice.headers, json={"title": "Read EXPLAIN"}
    )
    assert r.status_code == 201, r.text
    sub = r.json()
    res = await _recs(client, alice, f"/api/subtasks/{sub['id']}/recommendations", limit=3)
    assert _ids(res)[0] == library["pg_indexes"]
    assert res["context"]["type"] == "subtask"


async def test_free_text_context_and_its_feedback(client, alice, library):
    body = {"text": "painting landscapes with watercolors", "limit": 3}
    r = await client.post("/api/recommendations", headers=alice.headers, json=body)
    assert r.status_code == 200, r.text
    res = r.json()
    assert _ids(res)[0] == library["watercolor"]
    r = await client.post(
        "/api/feedback",
        headers=alice.headers,
        json={
            "bookmark_id": library["watercolor"],
            "context": res["context"],
            "signal": "irrelevant",
        },
    )
    assert r.status_code == 201, r.text
    again = (await client.post("/api/recommendations", headers=alice.headers, json=body)).json()
    assert library["watercolor"] not in _ids(again)
    bad = await client.post(
        "/api/feedback",
        headers=alice.headers,
        json={
            "bookmark_id": library["watercolor"],
            "context": {"type": "text", "id": "not-a-key"},
            "signal": "relevant",
        },
    )
    assert bad.status_code == 422


async def test_never_across_users(client, db, app, alice, bob, library, api_project):
    bob_id = await _uid(client, bob)
    bobs = await _add(
        db, app, bob_id, "Bob's FastAPI notes", "FastAPI and PostgreSQL tips.", [], None
    )
    res = await _recs(client, alice, f"/api/projects/{api_project['id']}/recommendations")
    assert bobs not in _ids(res)
    r = await client.get(f"/api/projects/{api_project['id']}/recommendations", headers=bob.headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "project_not_found"
    # Bob can neither judge Alice's bookmark nor use Alice's project as his context.
    r = await client.post(
        "/api/feedback",
        headers=bob.headers,
        json={"bookmark_id": library["fastapi_di"], "signal": "relevant"},
    )
    assert r.status_code == 404
    r = await client.post(
        "/api/feedback",
        headers=bob.headers,
        json={
            "bookmark_id": bobs,
            "context": {"type": "project", "id": api_project["id"]},
            "signal": "relevant",
        },
    )
    assert r.status_code == 404
    # Bob's feedback on his own item changes nothing for Alice.
    r = await client.post(
        "/api/feedback", headers=bob.headers, json={"bookmark_id": bobs, "signal": "relevant"}
    )
    assert r.status_code == 201
    mine = await client.get("/api/feedback", headers=alice.headers)
    assert mine.json()["items"] == []


async def test_diversity_keeps_one_topic_from_filling_the_list(client, db, app, alice):
    uid = await _uid(client, alice)
    for i in range(4):
        await _add(
            db, app, uid, f"Kubernetes rolling deployments, part {i}",
            "Rolling updates of a Kubernetes Deployment: maxSurge, maxUnavailable and "
            f"readiness probes keep pods serving during a release ({i}).", [], None,
        )  # fmt: skip
    helm = await _add(
        db, app, uid, "Packaging releases with Helm charts",
        "Helm charts template Kubernetes manifests so that a release can be upgraded and "
        "rolled back.", [], None,
    )  # fmt: skip
    body = {"text": "ship releases to our Kubernetes cluster without downtime", "limit": 3}
    res = (await client.post("/api/recommendations", headers=alice.headers, json=body)).json()
    assert helm in _ids(res)
    assert len(_ids(res)) == 3


async def test_a_real_commit_bumps_the_version_and_invalidates(
    api, api_user, api_user2, pipeline_worker
):
    """Against the real API process (real commits, where the deferred trigger fires): any
    save of the user's makes the next answer fresh, and another user's save does not."""
    h = api_user.headers
    page = "<html><head><title>Async FastAPI</title></head><body><p>{}</p></body></html>"
    body = page.format("FastAPI routes, dependencies and async database sessions. " * 20)
    r = await api.post(
        "/api/bookmarks", headers=h, json={"url": "https://example.com/a", "html": body}
    )
    assert r.status_code == 201, r.text
    saved = r.json()["id"]
    # The API process loads the model on first use: slow on a busy machine.
    r = await api.post("/api/projects", headers=h, json={"title": "Learn FastAPI"}, timeout=180)
    assert r.status_code == 201, r.text
    project = r.json()["id"]

    async def settled() -> bool:
        # The worker's processing of the page (and the project's intent) commits too, and each
        # of those commits is a change of this user's data: wait until they are done.
        b = (await api.get(f"/api/bookmarks/{saved}", headers=h)).json()
        p = (await api.get(f"/api/projects/{project}", headers=h)).json()
        return (
            b["status"] in ("ready", "failed")
            and b["analysis_status"] not in (None, "pending")
            and p["intent_status"] != "pending"
        )

    await wait_for(settled, within=120)
    path = f"/api/projects/{project}/recommendations"
    first = (await api.get(path, headers=h)).json()
    second = (await api.get(path, headers=h)).json()
    assert first["cached"] is False and second["cached"] is True
    r = await api.post(
        "/api/bookmarks", headers=api_user2.headers, json={"url": "https://example.com/b"}
    )
    assert r.status_code == 201
    assert (await api.get(path, headers=h)).json()["cached"] is True
    r = await api.post("/api/bookmarks", headers=h, json={"url": "https://example.com/c"})
    assert r.status_code == 201
    third = (await api.get(path, headers=h)).json()
    assert third["cached"] is False and third["data_version"] > first["data_version"]


async def test_technologies_named_in_a_title_count_without_any_analysis(client, db, app, alice):
    uid = await _uid(client, alice)
    pg = await _add(
        db,
        app,
        uid,
        "Full-text search in PostgreSQL",
        "tsvector columns and GIN indexes.",
        [],
        None,
    )
    project = await _project(client, alice, title="Search for notes", technologies=["PostgreSQL"])
    res = await _recs(client, alice, f"/api/projects/{project['id']}/recommendations")
    item = next(i for i in res["items"] if i["bookmark"]["id"] == pg)
    assert item["features"]["technologies"] == ["PostgreSQL"]
    assert "Covers PostgreSQL, which this project uses." in item["reasons"]


async def test_reading_at_once_ranks_as_reading_in_turn(client, db, app, alice, api_project):
    """The API reads feedback, nearest items and keyword matches at once through the read
    pool; the same context read one statement after another must rank the same."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.recommendations import service
    from app.users.models import User

    await client.post(
        "/api/feedback",
        headers=alice.headers,
        json={
            "bookmark_id": (await _recs(client, alice, f"/api/projects/{api_project['id']}/recommendations"))["items"][0]["bookmark"]["id"],
            "signal": "relevant",
            "context": {"type": "project", "id": api_project["id"]},
        },
    )  # fmt: skip
    async with AsyncSession(bind=db) as session:
        await bind_user(session, uuid.UUID(await _uid(client, alice)))
        user = await session.get(User, uuid.UUID(await _uid(client, alice)))
        ctx = await service.project_context(
            session, user, uuid.UUID(api_project["id"]), app.state.embedder, app.state.redis
        )
        at_once = await service.recommend(session, user, ctx, 10, reads=app.state.reads)
        in_turn = await service.recommend(session, user, ctx, 10)
    assert len(at_once) >= 3
    assert [(c.bookmark_id, c.reasons) for c in at_once] == [
        (c.bookmark_id, c.reasons) for c in in_turn
    ]
    assert [c.score for c in at_once] == pytest.approx([c.score for c in in_turn], abs=1e-6)


async def test_an_off_topic_project_is_not_padded_with_unrelated_items(client, db, app, alice):
    """A small library of unrelated pages: a lunar-missions project was offered a car review
    and a game-streaming article, each "close in meaning"."""
    uid = await _uid(client, alice)
    for title, body in [
        ("2024 Mazda CX-5 review", "The compact SUV's ride, cabin, fuel economy and price."),
        ("Cloud gaming services compared", "Streaming games from Stadia, xCloud and GeForce Now."),
        ("Sourdough bread at home", "A starter, a long fermentation and a hot oven."),
        ("Watercolor painting for beginners", "Wet-on-wet washes and layering pigments."),
    ]:
        await _add(db, app, uid, title, body, [], None)
    project = await _project(
        client, alice, title="History of the Apollo lunar missions",
        description="The crews, landing sites and rockets of the Moon landings.",
    )  # fmt: skip
    res = await _recs(client, alice, f"/api/projects/{project['id']}/recommendations")
    assert [i["weak"] for i in res["items"]] == [True] * 4, "listed apart as weaker, if at all"
    body = {"text": "zzqx blorf"}
    res = (await client.post("/api/recommendations", headers=alice.headers, json=body)).json()
    assert res["items"] and all(i["weak"] for i in res["items"]), res


FILLER_NAMED = re.compile(r"\b(need|needs|use|using|make|based|new)\b", re.IGNORECASE)


async def test_reasons_name_distinctive_shared_words_never_filler(client, db, app, alice):
    uid = await _uid(client, alice)
    mirror = await _add(
        db, app, uid, "Grinding a telescope mirror by hand",
        "What you need: use carborundum grit on a glass blank to make the mirror's curve.",
        [], None,
    )  # fmt: skip
    for title, body in [
        ("What you need to make a birdhouse", "Use cedar boards and make the roof steep."),
        ("Make new friends in a new city", "You need to use clubs and make time for people."),
        ("Use a budget to make savings", "You need a plan based on what you use each month."),
        ("Make bread you need", "Use flour, water and make a starter based on rye."),
    ]:
        await _add(db, app, uid, title, body, [], None)
    project = await _project(
        client, alice, title="Make a telescope mirror",
        description="I need to use carborundum to make the mirror, based on a new plan.",
    )  # fmt: skip
    res = await _recs(client, alice, f"/api/projects/{project['id']}/recommendations")
    assert _ids(res)[0] == mirror
    reasons = {i["bookmark"]["id"]: i["reasons"] for i in res["items"]}
    assert "Both mention carborundum, mirror and telescope." in reasons[mirror]
    for listed in reasons.values():
        for reason in listed:
            named = re.sub(r"“[^”]*”", "", reason)  # a quoted title is the user's own words
            assert not FILLER_NAMED.search(named), reason
