"""Reading states: read / unread, favourite, archived (out of the library's default view) and
reading progress, through the API; and that saving progress keeps cached recommendations."""

from __future__ import annotations

import asyncpg

from tests.recommendations.test_data_version import _connect, _user_with_bookmark, _version


async def _save(client, account, path: str, **body):  # type: ignore[no-untyped-def]
    r = await client.post(
        "/api/bookmarks",
        headers=account.headers,
        json={"url": f"https://example.com/{path}", "title": path, **body},
    )
    assert r.status_code == 201, r.text
    return r.json()


async def _titles(client, account, **params) -> list[str]:  # type: ignore[no-untyped-def]
    r = await client.get("/api/bookmarks", headers=account.headers, params=params)
    assert r.status_code == 200, r.text
    return [b["title"] for b in r.json()["items"]]


async def _patch(client, account, bookmark_id: str, **body):  # type: ignore[no-untyped-def]
    r = await client.patch(f"/api/bookmarks/{bookmark_id}", headers=account.headers, json=body)
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_new_bookmark_is_unread_and_in_the_library(client, alice):
    saved = await _save(client, alice, "fresh")
    assert (saved["read_at"], saved["favorite"], saved["archived_at"], saved["progress"]) == (
        None, False, None, 0.0,
    )  # fmt: skip
    # Saved straight to the archive (the extension's "Archive" choice), or as a favourite.
    archived = await _save(client, alice, "done", archived=True, favorite=True)
    assert archived["archived_at"] is not None and archived["favorite"] is True
    assert await _titles(client, alice) == ["fresh"]
    assert await _titles(client, alice, shelf="archive") == ["done"]
    assert sorted(await _titles(client, alice, shelf="all")) == ["done", "fresh"]
    # Asking by URL finds it wherever it is (the extension's "already saved?").
    r = await client.get(
        "/api/bookmarks", headers=alice.headers, params={"url": "https://example.com/done"}
    )
    assert [b["title"] for b in r.json()["items"]] == ["done"]


async def test_marking_read_favourite_and_archived_filters_the_library(client, alice):
    a = await _save(client, alice, "a")
    b = await _save(client, alice, "b")
    c = await _save(client, alice, "c")
    read = await _patch(client, alice, a["id"], read=True)
    assert read["read_at"] is not None and read["version"] == a["version"] + 1
    again = await _patch(client, alice, a["id"], read=True)
    assert again["read_at"] == read["read_at"], "marking it read again keeps the first date"
    await _patch(client, alice, b["id"], favorite=True)
    await _patch(client, alice, c["id"], archived=True)

    assert await _titles(client, alice) == ["b", "a"]  # c is archived
    assert await _titles(client, alice, read="true") == ["a"]
    assert await _titles(client, alice, read="false") == ["b"]
    assert await _titles(client, alice, favorite="true") == ["b"]
    assert await _titles(client, alice, shelf="archive") == ["c"]
    assert await _titles(client, alice, shelf="all", read="false") == ["c", "b"]

    back = await _patch(client, alice, c["id"], archived=False)
    assert back["archived_at"] is None
    unread = await _patch(client, alice, a["id"], read=False)
    assert unread["read_at"] is None
    assert await _titles(client, alice, read="false") == ["c", "b", "a"]


async def test_progress_is_kept_restored_and_reaching_the_end_marks_it_read(client, alice, bob):
    page = await _save(client, alice, "long-read")
    url = f"/api/bookmarks/{page['id']}/progress"
    r = await client.put(url, headers=alice.headers, json={"progress": 0.42})
    assert r.status_code == 200, r.text
    assert r.json() == {"progress": 0.42, "read_at": None}
    detail = (await client.get(f"/api/bookmarks/{page['id']}", headers=alice.headers)).json()
    assert detail["progress"] == 0.42 and detail["read_at"] is None
    # Progress is not an edit: an edit of the version loaded before it still applies.
    assert detail["version"] == page["version"]
    edited = await _patch(client, alice, page["id"], notes="good", version=page["version"])
    assert edited["notes"] == "good"

    r = await client.put(url, headers=alice.headers, json={"progress": 0.99})
    assert r.json()["read_at"] is not None
    assert await _titles(client, alice, read="true") == ["long-read"]
    # Scrolling back up keeps it read.
    r = await client.put(url, headers=alice.headers, json={"progress": 0.1})
    assert r.json()["progress"] == 0.1 and r.json()["read_at"] is not None

    for bad in (-0.1, 1.5, "half", None):
        r = await client.put(url, headers=alice.headers, json={"progress": bad})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"]
    # Another user's bookmark is not found, and nothing of it changes.
    r = await client.put(url, headers=bob.headers, json={"progress": 0.5})
    assert r.status_code == 404
    r = await client.patch(
        f"/api/bookmarks/{page['id']}", headers=bob.headers, json={"read": False}
    )
    assert r.status_code == 404
    detail = (await client.get(f"/api/bookmarks/{page['id']}", headers=alice.headers)).json()
    assert detail["progress"] == 0.1 and detail["read_at"] is not None


async def test_sorted_by_progress(client, alice):
    ids = {}
    for name, progress in (("half", 0.5), ("none", 0.0), ("most", 0.9)):
        ids[name] = (await _save(client, alice, name))["id"]
        r = await client.put(
            f"/api/bookmarks/{ids[name]}/progress",
            headers=alice.headers,
            json={"progress": progress},
        )
        assert r.status_code == 200
    assert await _titles(client, alice, sort="-progress") == ["most", "half", "none"]
    # Page by page with the cursor.
    r = await client.get(
        "/api/bookmarks", headers=alice.headers, params={"sort": "progress", "limit": 2}
    )
    first = r.json()
    r = await client.get(
        "/api/bookmarks",
        headers=alice.headers,
        params={"sort": "progress", "limit": 2, "cursor": first["next_cursor"]},
    )
    assert [b["title"] for b in first["items"] + r.json()["items"]] == ["none", "half", "most"]


async def test_saving_progress_keeps_cached_recommendations_and_states_do_not(stack):
    """The reader saves progress every few seconds: that must not empty the user's cached
    recommendations (the data version), while any other change still does."""
    conn: asyncpg.Connection = await _connect(stack)
    try:
        uid, bid = await _user_with_bookmark(conn)
        start = await _version(conn, uid)
        await conn.execute("UPDATE bookmarks SET progress = 0.5 WHERE id = $1", bid)
        await conn.execute(
            "UPDATE bookmarks SET progress = 0.7, read_at = now() WHERE id = $1", bid
        )
        assert await _version(conn, uid) == start
        await conn.execute("UPDATE bookmarks SET favorite = true WHERE id = $1", bid)
        assert await _version(conn, uid) == start + 1
        await conn.execute("UPDATE bookmarks SET title = 'x' WHERE id = $1", bid)
        assert await _version(conn, uid) == start + 2
        await conn.execute("DELETE FROM users WHERE id = $1", uid)
    finally:
        await conn.close()
