"""The bookmark API without a worker: saving, duplicates, listing, editing, deleting, and
the wall between users."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import text


async def _save(client, account, url: str, **extra):  # type: ignore[no-untyped-def]
    return await client.post("/api/bookmarks", headers=account.headers, json={"url": url, **extra})


async def test_save_answers_at_once_with_a_pending_bookmark(client, alice):
    r = await _save(
        client, alice, "https://example.com/post/?utm_source=tw", tags=["Python", "web"]
    )
    assert r.status_code == 201
    body = r.json()
    assert body["status"] == "pending"
    assert body["normalized_url"] == "https://example.com/post"
    assert body["tags"] == ["Python", "web"]
    assert body["source"] == "web"


async def test_the_same_url_again_returns_the_existing_bookmark(client, alice, redis):
    first = (await _save(client, alice, "https://example.com/a?b=2&a=1")).json()
    again = await _save(
        client, alice, "HTTPS://EXAMPLE.com/a/?a=1&b=2&utm_medium=x#top", tags=["new"]
    )
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert again.json()["tags"] == ["new"]
    page = (await client.get("/api/bookmarks", headers=alice.headers)).json()
    assert len(page["items"]) == 1
    # One pipeline job for the one bookmark.
    jobs = await redis.queued_jobs()
    assert [j.function for j in jobs] == ["fetch_bookmark"]


async def test_captured_html_skips_fetching(client, alice, redis):
    r = await _save(
        client, alice, "https://intranet.example/page", html="<html><body><p>hi</p></body></html>"
    )
    assert r.status_code == 201 and r.json()["source"] == "extension"
    assert [j.function for j in await redis.queued_jobs()] == ["extract_bookmark"]


async def test_bad_urls_are_a_422(client, alice):
    for url in ("ftp://example.com/x", "javascript:alert(1)", "https://", ""):
        r = await _save(client, alice, url)
        assert r.status_code == 422, url
        assert r.json()["error"]["code"] in ("invalid_url", "validation_error")


async def test_a_huge_captured_page_is_a_413_and_nothing_is_saved(client, alice):
    r = await _save(client, alice, "https://example.com/huge", html="x" * (13 * 1024 * 1024))
    assert r.status_code == 413
    page = (await client.get("/api/bookmarks", headers=alice.headers)).json()
    assert page["items"] == []


async def test_another_users_bookmark_is_a_404_on_every_route(client, alice, bob):
    bid = (await _save(client, alice, "https://example.com/private")).json()["id"]
    missing = str(uuid.uuid4())
    for target in (bid, missing):
        for method, path, body in [
            ("GET", f"/api/bookmarks/{target}", None),
            ("PATCH", f"/api/bookmarks/{target}", {"title": "mine now"}),
            ("DELETE", f"/api/bookmarks/{target}", None),
            ("POST", f"/api/bookmarks/{target}/refresh", None),
        ]:
            r = await client.request(method, path, headers=bob.headers, json=body)
            assert r.status_code == 404, (method, path)
            assert r.json()["error"]["code"] == "bookmark_not_found"
    assert (await client.get("/api/bookmarks", headers=bob.headers)).json()["items"] == []
    still = await client.get(f"/api/bookmarks/{bid}", headers=alice.headers)
    assert still.status_code == 200 and still.json()["title"] is None


async def test_edit_title_notes_and_tags(client, alice):
    bid = (await _save(client, alice, "https://example.com/e", tags=["a", "b"])).json()["id"]
    r = await client.patch(
        f"/api/bookmarks/{bid}",
        headers=alice.headers,
        json={"title": "My title", "notes": "read later", "tags": ["B", "c"]},
    )
    assert r.status_code == 200
    body = r.json()
    assert body["title"] == "My title" and body["notes"] == "read later"
    assert sorted(t.lower() for t in body["tags"]) == ["b", "c"]
    assert body["version"] == 2


async def test_tags_are_per_user_and_case_insensitive(client, alice, bob, db):
    await _save(client, alice, "https://example.com/1", tags=["Python"])
    await _save(client, alice, "https://example.com/2", tags=["python", "PYTHON"])
    await _save(client, bob, "https://example.com/3", tags=["python"])
    count = await db.scalar(text("SELECT count(*) FROM tags"))
    assert count == 2  # one for alice, one for bob
    page = (await client.get("/api/bookmarks?tag=PyThOn", headers=alice.headers)).json()
    assert len(page["items"]) == 2


async def test_concurrent_edits_of_one_version_conflict(client, alice):
    bid = (await _save(client, alice, "https://example.com/c")).json()["id"]
    r1 = await client.patch(
        f"/api/bookmarks/{bid}", headers=alice.headers, json={"notes": "one", "version": 1}
    )
    r2 = await client.patch(
        f"/api/bookmarks/{bid}", headers=alice.headers, json={"notes": "two", "version": 1}
    )
    assert r1.status_code == 200
    assert r2.status_code == 409 and r2.json()["error"]["code"] == "edit_conflict"
    got = (await client.get(f"/api/bookmarks/{bid}", headers=alice.headers)).json()
    assert got["notes"] == "one"


async def test_delete(client, alice):
    bid = (await _save(client, alice, "https://example.com/d")).json()["id"]
    assert (await client.delete(f"/api/bookmarks/{bid}", headers=alice.headers)).status_code == 204
    assert (await client.get(f"/api/bookmarks/{bid}", headers=alice.headers)).status_code == 404


async def test_list_filters_sorts_and_cursor_pagination(client, alice, db):
    for i in range(7):
        await _save(client, alice, f"https://example.com/p{i}", title=f"Title {chr(ord('g') - i)}")
    await db.execute(
        text("UPDATE bookmarks SET status = 'ready' WHERE url LIKE '%p1' OR url LIKE '%p3'")
    )

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/bookmarks", headers=alice.headers, params=params)).json()
        seen += [b["url"] for b in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"https://example.com/p{i}" for i in reversed(range(7))]

    by_title = (
        await client.get("/api/bookmarks?sort=title&limit=50", headers=alice.headers)
    ).json()
    titles = [b["title"] for b in by_title["items"]]
    assert titles == sorted(titles)

    ready = (await client.get("/api/bookmarks?status=ready", headers=alice.headers)).json()
    assert sorted(b["url"] for b in ready["items"]) == [
        "https://example.com/p1",
        "https://example.com/p3",
    ]

    found = (await client.get("/api/bookmarks?q=title%20a", headers=alice.headers)).json()
    assert [b["title"] for b in found["items"]] == ["Title a"]

    bad = await client.get("/api/bookmarks?cursor=garbage!!", headers=alice.headers)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_cursor"
    bad = await client.get("/api/bookmarks?status=weird", headers=alice.headers)
    assert bad.status_code == 422


async def test_every_sort_pages_through_the_whole_library_and_refuses_another_sorts_cursor(
    client, alice, db
):
    for i, title in enumerate(["Émile", "beta", "Alpha", "delta", "Çedille"]):
        await _save(client, alice, f"https://example.com/s{i}", title=title)
    await db.execute(
        text(
            "UPDATE bookmarks SET quality = (array[40, NULL, 90, 40, 7])[substr(url, 22)::int + 1],"
            " progress = (array[0.5, 0, 0.25, 0.5, 1])[substr(url, 22)::int + 1]"
        )
    )
    cursors = {}
    for sort in ("saved_at", "-saved_at", "title", "-title", "quality", "-quality", "progress"):
        whole = (await client.get(f"/api/bookmarks?sort={sort}", headers=alice.headers)).json()
        assert len(whole["items"]) == 5 and whole["next_cursor"] is None
        seen, cursor = [], None
        while True:
            params = {"sort": sort, "limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/api/bookmarks", headers=alice.headers, params=params)).json()
            seen += [b["id"] for b in page["items"]]
            cursors.setdefault(sort, page["next_cursor"])
            if not (cursor := page["next_cursor"]):
                break
        assert seen == [b["id"] for b in whole["items"]], sort
    by_title = (await client.get("/api/bookmarks?sort=title", headers=alice.headers)).json()
    titles = [b["title"] for b in by_title["items"]]
    assert [t for t in titles if t.isascii()] == ["Alpha", "beta", "delta"]  # case ignored
    by_quality = (await client.get("/api/bookmarks?sort=-quality", headers=alice.headers)).json()
    assert [b["quality"] for b in by_quality["items"]][:2] == [90, 40]
    # A cursor carries its sort's value: another sort's is refused, never a 500.
    for sort, other in (("quality", "title"), ("title", "quality"), ("progress", "saved_at")):
        bad = await client.get(
            "/api/bookmarks", headers=alice.headers, params={"sort": sort, "cursor": cursors[other]}
        )
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_cursor", sort


async def test_refresh_starts_a_new_run(client, alice, redis):
    bid = (await _save(client, alice, "https://example.com/r")).json()["id"]
    r = await client.post(f"/api/bookmarks/{bid}/refresh", headers=alice.headers)
    assert r.status_code == 202 and r.json()["status"] == "pending"
    ids = sorted(j.job_id for j in await redis.queued_jobs())
    assert ids == [f"fetch_bookmark:{bid}:1", f"fetch_bookmark:{bid}:2"]


async def test_concurrent_saves_of_one_url_make_one_bookmark(live_client):
    from tests.conftest import register_and_login

    account = await register_and_login(live_client)
    results = await asyncio.gather(
        *[_save(live_client, account, "https://example.com/same") for _ in range(5)]
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 200, 200, 200, 201]
    assert len({r.json()["id"] for r in results}) == 1


async def test_literal_internal_addresses_are_refused_at_once(client, alice, app, monkeypatch):
    for url in (
        "http://127.0.0.1/admin",
        "http://10.1.2.3/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/",
        "http://[::ffff:127.0.0.1]/",
    ):
        r = await _save(client, alice, url)
        assert r.status_code == 422, url
        assert r.json()["error"]["code"] == "blocked_address"
    # Self-hosters may allow their own network, but never the cloud metadata service.
    monkeypatch.setattr(app.state.settings, "allow_private_networks", True)
    assert (await _save(client, alice, "http://10.1.2.3/")).status_code == 201
    r = await _save(client, alice, "http://169.254.169.254/latest/meta-data/")
    assert r.status_code == 422 and "metadata" in r.json()["error"]["message"]
    # The extension's captured page is never fetched, so any address may be saved with it.
    captured = await _save(client, alice, "http://192.168.1.1/router", html="<p>status</p>")
    assert captured.status_code == 201
