"""Highlights and notes through the API, on real Postgres (triggers, row-level security),
real Redis and the real model: made, listed, changed, deleted; found by search (by words
and by meaning); cited by recommendations; written out as Markdown; never another user's."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from tests.recommendations.test_recommendations import _add, _project, _recs, _uid


async def _save(client, account, path: str, **body):  # type: ignore[no-untyped-def]
    r = await client.post(
        "/api/bookmarks",
        headers=account.headers,
        json={"url": f"https://example.com/{path}", "title": path, **body},
    )
    assert r.status_code == 201, r.text
    return r.json()


async def _highlight(client, account, bookmark_id: str, **body):  # type: ignore[no-untyped-def]
    r = await client.post(
        f"/api/bookmarks/{bookmark_id}/highlights", headers=account.headers, json=body
    )
    assert r.status_code == 201, r.text
    return r.json()


async def _list(client, account, bookmark_id: str) -> list[dict]:  # type: ignore[type-arg]
    r = await client.get(f"/api/bookmarks/{bookmark_id}/highlights", headers=account.headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def _search(client, account, q: str, mode: str = "keyword") -> list[str]:
    r = await client.get("/api/search", headers=account.headers, params={"q": q, "mode": mode})
    assert r.status_code == 200, r.text
    return [h["bookmark"]["title"] for h in r.json()["items"] if not h["weak"]]


async def test_a_highlight_is_made_listed_in_reading_order_changed_and_deleted(client, alice):
    page = await _save(client, alice, "essay")
    second = await _highlight(
        client, alice, page["id"], quote="the second passage", prefix="and then ", suffix=".",
        start=120, end=138, color="blue",
    )  # fmt: skip
    first = await _highlight(
        client, alice, page["id"], quote="the first passage", start=10, end=27,
        note="  Worth quoting.  ",
    )  # fmt: skip
    assert first["color"] == "yellow" and first["note"] == "Worth quoting."
    assert (second["prefix"], second["suffix"], second["start"], second["end"]) == (
        "and then ", ".", 120, 138,
    )  # fmt: skip
    assert [h["quote"] for h in await _list(client, alice, page["id"])] == [
        "the first passage", "the second passage",
    ]  # fmt: skip

    r = await client.patch(
        f"/api/highlights/{first['id']}", headers=alice.headers, json={"color": "green"}
    )
    assert r.status_code == 200 and r.json()["color"] == "green"
    assert r.json()["note"] == "Worth quoting.", "a new colour keeps the note"
    r = await client.patch(
        f"/api/highlights/{first['id']}", headers=alice.headers, json={"note": ""}
    )
    assert r.json()["note"] is None, "an empty note removes it"

    r = await client.delete(f"/api/highlights/{second['id']}", headers=alice.headers)
    assert r.status_code == 204
    assert [h["id"] for h in await _list(client, alice, page["id"])] == [first["id"]]
    # Deleting the page deletes its highlights.
    assert (
        await client.delete(f"/api/bookmarks/{page['id']}", headers=alice.headers)
    ).status_code == 204
    r = await client.get("/api/highlights", headers=alice.headers)
    assert r.json()["items"] == [] and r.json()["total"] == 0


async def test_bad_highlights_are_refused_and_another_users_are_out_of_reach(client, alice, bob):
    page = await _save(client, alice, "mine")
    url = f"/api/bookmarks/{page['id']}/highlights"
    for body in [
        {},
        {"quote": "   "},
        {"quote": "x", "color": "red"},
        {"quote": "x", "start": 5},
        {"quote": "x", "start": 5, "end": 5},
        {"quote": "x", "start": -1, "end": 3},
        {"quote": "x" * 5001},
        {"quote": "x", "note": "y" * 10_001},
        {"quote": "bad\u0000byte"},
    ]:
        r = await client.post(url, headers=alice.headers, json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["code"], r.json()
    mine = await _highlight(client, alice, page["id"], quote="private words", note="my note")

    assert (await client.get(url, headers=bob.headers)).status_code == 404
    assert (await client.post(url, headers=bob.headers, json={"quote": "x"})).status_code == 404
    hl = f"/api/highlights/{mine['id']}"
    assert (await client.patch(hl, headers=bob.headers, json={"note": "no"})).status_code == 404
    assert (await client.delete(hl, headers=bob.headers)).status_code == 404
    r = await client.get(
        "/api/highlights/export", headers=bob.headers, params={"bookmark_id": page["id"]}
    )
    assert r.status_code == 404
    r = await client.get("/api/highlights", headers=bob.headers, params={"q": "private"})
    assert r.json()["items"] == []
    assert [h["note"] for h in await _list(client, alice, page["id"])] == ["my note"]
    r = await client.get("/api/highlights", headers=alice.headers, params={"cursor": "%%%"})
    assert r.status_code == 422


async def test_search_finds_a_page_by_what_was_highlighted_and_noted_in_it(client, alice):
    page = await _save(client, alice, "homebrewing")
    await _save(client, alice, "gardening")
    assert await _search(client, alice, "zymurgy") == []
    h = await _highlight(client, alice, page["id"], quote="Zymurgy is the study of fermentation")
    assert await _search(client, alice, "zymurgy") == ["homebrewing"]
    await client.patch(
        f"/api/highlights/{h['id']}", headers=alice.headers, json={"note": "try a barleywine"}
    )
    assert await _search(client, alice, "barleywine") == ["homebrewing"]
    await client.delete(f"/api/highlights/{h['id']}", headers=alice.headers)
    assert await _search(client, alice, "zymurgy") == []


async def test_all_highlights_newest_first_and_searched_by_words_and_meaning(client, app, alice):
    if not app.state.embedder.loaded:
        await app.state.embedder.load_async()
    bread = await _save(client, alice, "bread")
    space = await _save(client, alice, "space")
    made = [
        await _highlight(client, alice, bread["id"], quote=q, note=n, color=c)
        for q, n, c in [
            ("Let the dough rise overnight in a cool place.", "slow fermentation", "yellow"),
            ("The starter must be fed flour and water every day.", None, "green"),
            ("The rocket's third stage sent the capsule toward the Moon.", None, "blue"),
        ]
    ]
    await _highlight(
        client, alice, space["id"], quote="Orbital mechanics decide every launch window."
    )
    r = await client.get("/api/highlights", headers=alice.headers, params={"limit": 2})
    page1 = r.json()
    assert page1["total"] == 4 and len(page1["items"]) == 2 and page1["next_cursor"]
    assert page1["items"][0]["bookmark"]["title"] == "space", "newest first"
    r = await client.get(
        "/api/highlights",
        headers=alice.headers,
        params={"limit": 2, "cursor": page1["next_cursor"]},
    )
    assert [h["id"] for h in r.json()["items"]] == [made[1]["id"], made[0]["id"]]
    assert r.json()["next_cursor"] is None

    r = await client.get("/api/highlights", headers=alice.headers, params={"color": "green"})
    assert [h["id"] for h in r.json()["items"]] == [made[1]["id"]]

    # By words: the note counts as the quote does.
    r = await client.get(
        "/api/highlights", headers=alice.headers, params={"q": "fermentation", "mode": "keyword"}
    )
    assert [h["id"] for h in r.json()["items"]] == [made[0]["id"]]
    # By meaning: no shared word, and still the right passages first.
    r = await client.get(
        "/api/highlights", headers=alice.headers,
        params={"q": "spacecraft travelling to the lunar surface", "mode": "semantic"},
    )  # fmt: skip
    hits = r.json()["items"]
    assert hits and hits[0]["id"] == made[2]["id"], [h["quote"] for h in hits]
    assert all(h["score"] is not None for h in hits)
    assert made[1]["id"] not in [h["id"] for h in hits], "bread is not close to the Moon"


async def test_recommendations_cite_what_was_highlighted(client, db, app, alice):
    if not app.state.embedder.loaded:
        await app.state.embedder.load_async()
    uid = await _uid(client, alice)
    pool = await _add(
        db, app, uid, "Connection pools in depth",
        "Pool sizing, timeouts and recycling connections for busy services of all kinds.",
        [], None,
    )  # fmt: skip
    await _add(db, app, uid, "Sourdough bread at home", "A starter, a long fermentation.", [], None)
    project = await _project(
        client, alice, title="Async PostgreSQL access from a Python web API",
        description="asyncpg connection pools for a FastAPI service",
    )  # fmt: skip
    path = f"/api/projects/{project['id']}/recommendations"
    before = {i["bookmark"]["id"]: i for i in (await _recs(client, alice, path))["items"]}
    assert not any("highlighted" in r for r in before[pool]["reasons"])

    quote = "Size the asyncpg pool to the PostgreSQL server's connections, not to the web workers."
    await _highlight(client, alice, pool, quote=quote)
    after = {i["bookmark"]["id"]: i for i in (await _recs(client, alice, path))["items"]}
    reasons = after[pool]["reasons"]
    assert any(r.startswith("You highlighted “Size the asyncpg pool") for r in reasons), reasons
    assert after[pool]["score"] > before[pool]["score"], "what was highlighted counts"


async def test_highlights_as_markdown(client, alice, bob):
    page = await _save(client, alice, "notes-page")
    await _highlight(client, alice, page["id"], quote="Second line.", start=50, end=62)
    await _highlight(
        client, alice, page["id"], quote="First line\nand its end.", start=0, end=20,
        note="Remember this.",
    )  # fmt: skip
    r = await client.get(
        "/api/highlights/export", headers=alice.headers, params={"bookmark_id": page["id"]}
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/markdown")
    assert r.text == (
        "## [notes-page](https://example.com/notes-page)\n\n"
        "> First line\n> and its end.\n\nRemember this.\n\n> Second line.\n"
    )
    assert (await client.get("/api/highlights/export", headers=bob.headers)).text == ""


async def test_the_worker_embeds_highlights_left_without_a_vector(client, db, app, alice):
    from app.highlights.jobs import embed_highlights

    if not app.state.embedder.loaded:
        await app.state.embedder.load_async()
    page = await _save(client, alice, "imported")
    uid = await _uid(client, alice)
    hid = uuid.uuid4()
    await db.execute(
        text("INSERT INTO highlights (id, user_id, bookmark_id, quote, created_at, updated_at)"
             " VALUES (:id, :u, :b, 'Imported from Omnivore', now(), now())"),
        {"id": hid, "u": uid, "b": page["id"]},
    )  # fmt: skip
    ctx = {
        "sessionmaker": app.state.sessionmaker,
        "embedder": app.state.embedder,
        "redis": app.state.redis,
    }
    assert await embed_highlights(ctx, uid) == "embedded 1"
    found = await db.scalar(
        text("SELECT embedding IS NOT NULL FROM highlights WHERE id = :id"), {"id": hid}
    )
    assert found is True
