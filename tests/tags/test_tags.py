"""Tag care through the API on real Postgres (its triggers keep search right): counts,
rename, merge, delete, each undone exactly; suggestions; other users' tags out of reach."""

from __future__ import annotations


async def _save(client, account, path: str, tags: list[str]) -> str:  # type: ignore[no-untyped-def]
    r = await client.post(
        "/api/bookmarks", headers=account.headers,
        json={"url": f"https://t.example/{path}", "tags": tags},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _tags(client, account, **params) -> dict[str, int]:  # type: ignore[no-untyped-def]
    r = await client.get("/api/tags", headers=account.headers, params=params)
    assert r.status_code == 200, r.text
    return {t["name"]: t["count"] for t in r.json()["items"]}


async def _ids(client, account) -> dict[str, str]:  # type: ignore[no-untyped-def]
    r = await client.get("/api/tags", headers=account.headers)
    return {t["name"]: t["id"] for t in r.json()["items"]}


async def _tags_of(client, account, bid: str) -> list[str]:  # type: ignore[no-untyped-def]
    return (await client.get(f"/api/bookmarks/{bid}", headers=account.headers)).json()["tags"]


async def _found(client, account, q: str) -> int:  # type: ignore[no-untyped-def]
    r = await client.get("/api/search", headers=account.headers, params={"q": q, "mode": "keyword"})
    return len([h for h in r.json()["items"] if not h["weak"]])


async def test_counts_most_used_first_and_found_by_part_of_a_name(client, alice, bob):
    await _save(client, alice, "a", ["Python", "web"])
    await _save(client, alice, "b", ["python", "async"])
    await _save(client, alice, "c", ["web"])
    r = await client.get("/api/tags", headers=alice.headers)
    assert [(t["name"], t["count"]) for t in r.json()["items"]] == [
        ("Python", 2), ("web", 2), ("async", 1),
    ]  # fmt: skip
    assert list(await _tags(client, alice, q="YN")) == ["async"]
    assert list(await _tags(client, alice, q="p")) == ["Python"]
    assert await _tags(client, bob) == {}


async def test_counts_follow_every_change(client, alice):
    """The count is kept by the database as tags come and go (edits, deletes), not counted
    per request: each change must show in it."""
    ids = [await _save(client, alice, f"n{i}", ["news", f"t{i}"]) for i in range(4)]
    assert (await _tags(client, alice, q="news")) == {"news": 4}
    r = await client.patch(
        f"/api/bookmarks/{ids[0]}", headers=alice.headers, json={"tags": ["t0", "later"]}
    )
    assert r.status_code == 200, r.text
    assert (
        await client.delete(f"/api/bookmarks/{ids[1]}", headers=alice.headers)
    ).status_code == 204
    counts = await _tags(client, alice)
    assert counts["news"] == 2 and counts["later"] == 1 and counts["t0"] == 1
    assert counts.get("t1", 0) == 0
    assert next(iter(counts)) == "news", "most used first"


async def test_counts_of_saves_at_once(api, api_user):
    """Eight saves with one tag, at once, on a real API: the count is eight (each statement
    changes the tag's count under its row lock)."""
    import asyncio

    await asyncio.gather(*(_save(api, api_user, f"c{i}", ["together"]) for i in range(8)))
    assert await _tags(api, api_user, q="together") == {"together": 8}


async def test_merge_moves_bookmarks_and_undo_restores_exactly(client, alice):
    a = await _save(client, alice, "a", ["ML", "ai"])
    b = await _save(client, alice, "b", ["machine-learning"])
    c = await _save(client, alice, "c", ["Machine Learning", "ml"])  # "ml" is "ML"
    ids = await _ids(client, alice)
    r = await client.post(
        "/api/tags/merge", headers=alice.headers,
        json={"tags": [ids["ML"], ids["machine-learning"]], "into": "Machine Learning"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    changed = r.json()
    assert changed["tag"]["name"] == "Machine Learning" and changed["tag"]["count"] == 3
    assert await _tags(client, alice) == {"Machine Learning": 3, "ai": 1}
    assert await _tags_of(client, alice, a) == ["ai", "Machine Learning"]
    assert await _found(client, alice, "learning") == 3, "search sees the new tag at once"

    r = await client.post("/api/tags/undo", headers=alice.headers, json=changed["undo"])
    assert r.status_code == 200, r.text
    assert await _tags(client, alice) == {
        "ML": 2,
        "ai": 1,
        "machine-learning": 1,
        "Machine Learning": 1,
    }
    assert await _tags_of(client, alice, b) == ["machine-learning"]
    assert await _tags_of(client, alice, c) == ["Machine Learning", "ML"]


async def test_rename_delete_and_their_undo(client, alice, bob):
    a = await _save(client, alice, "a", ["pyhton"])
    await _save(client, alice, "b", ["python"])
    ids = await _ids(client, alice)
    r = await client.patch(
        f"/api/tags/{ids['pyhton']}", headers=alice.headers, json={"name": "Py Thon"}
    )
    assert r.json()["tag"]["name"] == "Py Thon"
    undo = r.json()["undo"]
    assert await _tags(client, alice) == {"Py Thon": 1, "python": 1}
    await client.post("/api/tags/undo", headers=alice.headers, json=undo)
    assert await _tags(client, alice) == {"pyhton": 1, "python": 1}

    # Renamed to an existing tag's name (in another case): merged into it.
    ids = await _ids(client, alice)
    r = await client.patch(
        f"/api/tags/{ids['pyhton']}", headers=alice.headers, json={"name": "PYTHON"}
    )
    assert r.json()["tag"]["name"] == "python" and r.json()["tag"]["count"] == 2
    assert await _tags(client, alice) == {"python": 2}

    r = await client.delete(f"/api/tags/{ids['python']}", headers=alice.headers)
    assert r.status_code == 200 and r.json()["bookmarks"] == 2
    assert await _tags(client, alice) == {} and await _tags_of(client, alice, a) == []
    assert (await client.get(f"/api/bookmarks/{a}", headers=alice.headers)).status_code == 200
    await client.post("/api/tags/undo", headers=alice.headers, json=r.json()["undo"])
    assert await _tags(client, alice) == {"python": 2}

    # Another user's tags, or bookmarks named in an undo, are out of reach.
    ids = await _ids(client, alice)
    assert (
        await client.patch(f"/api/tags/{ids['python']}", headers=bob.headers, json={"name": "x"})
    ).status_code == 404
    assert (
        await client.delete(f"/api/tags/{ids['python']}", headers=bob.headers)
    ).status_code == 404
    r = await client.post(
        "/api/tags/merge", headers=bob.headers, json={"tags": [ids["python"]], "into": "x"}
    )
    assert r.status_code == 404
    r = await client.post(
        "/api/tags/undo", headers=bob.headers,
        json={"removed": [{"name": "stolen", "bookmarks": [a]}]},
    )  # fmt: skip
    assert r.json() == {"restored": 0} and await _tags_of(client, alice, a) == ["python"]
    for body in ({"name": "  "}, {"name": "x" * 65}):
        r = await client.patch(f"/api/tags/{ids['python']}", headers=alice.headers, json=body)
        assert r.status_code == 422


async def test_suggestions_group_spellings_abbreviations_and_meaning(client, app, alice):
    if not app.state.embedder.loaded:
        await app.state.embedder.load_async()
    await _save(client, alice, "a", ["Tutorials", "machine learning", "car"])
    await _save(client, alice, "b", ["tutorial", "ML", "automobile"])
    await _save(client, alice, "c", ["tutorial", "python", "java"])
    await _save(client, alice, "d", ["one-off-typo"])
    r = await client.get("/api/tags/suggestions", headers=alice.headers)
    assert r.status_code == 200, r.text
    got = {
        (s["why"], frozenset(t["name"] for t in s["tags"]), s["into"]) for s in r.json()["merge"]
    }
    assert ("same words", frozenset({"Tutorials", "tutorial"}), "tutorial") in got
    assert ("abbreviation", frozenset({"machine learning", "ML"}), "machine learning") in got
    assert ("close in meaning", frozenset({"car", "automobile"}), "automobile") in got
    assert not any({"python", "java"} <= set(t) for _, t, _ in got), "related is not the same"
    assert "one-off-typo" in [t["name"] for t in r.json()["once"]]
