"""Lists through the API on real Postgres: the tree with counts, names unique among
siblings, moves that would make a cycle refused, deleting keeps the bookmarks (sub-lists
move up), bulk add and remove, the `list` filter, other users' ids out of reach, imported
folders as lists (idempotent), the export of one list, and recommendations within a list."""

from __future__ import annotations

import csv
import io
import json

from tests.imports.test_api import import_file


async def _save(client, account, path: str, title: str | None = None) -> str:  # type: ignore[no-untyped-def]
    r = await client.post(
        "/api/bookmarks", headers=account.headers,
        json={"url": f"https://l.example/{path}", **({"title": title} if title else {})},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _make(client, account, name: str, parent: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    r = await client.post(
        "/api/lists", headers=account.headers, json={"name": name, "parent_id": parent}
    )
    assert r.status_code == 201, r.text
    return r.json()


async def _tree(client, account) -> list[tuple[str, int, int]]:  # type: ignore[no-untyped-def]
    r = await client.get("/api/lists", headers=account.headers)
    assert r.status_code == 200, r.text
    return [("/".join(x["path"]), x["count"], x["total"]) for x in r.json()["items"]]


async def _in(client, account, list_id: str, **params) -> set[str]:  # type: ignore[no-untyped-def]
    r = await client.get(
        "/api/bookmarks", headers=account.headers, params={"list": list_id, **params}
    )
    assert r.status_code == 200, r.text
    return {b["id"] for b in r.json()["items"]}


async def _add(client, account, list_id: str, ids: list[str]):  # type: ignore[no-untyped-def]
    return await client.post(
        f"/api/lists/{list_id}/bookmarks", headers=account.headers, json={"bookmark_ids": ids}
    )


async def test_nested_lists_counts_and_the_list_filter(client, alice):  # type: ignore[no-untyped-def]
    a, b, c = [await _save(client, alice, p) for p in "abc"]
    work = await _make(client, alice, "Work")
    reading = await _make(client, alice, "reading", work["id"])
    await _make(client, alice, "Archive")
    assert reading["path"] == ["Work", "reading"] and reading["depth"] == 1

    r = await _add(client, alice, work["id"], [a, b])
    assert r.status_code == 200, r.text
    assert r.json()["changed"] == 2 and r.json()["list"]["count"] == 2
    # A bookmark can be in several lists; adding it again changes nothing.
    r = await _add(client, alice, reading["id"], [b, c, c])
    assert r.json()["changed"] == 2
    assert (await _add(client, alice, reading["id"], [b])).json()["changed"] == 0

    # Tree order (a parent before its sub-lists, siblings by name in any case), with the
    # list's own count and the distinct bookmarks under it.
    assert await _tree(client, alice) == [
        ("Archive", 0, 0), ("Work", 2, 3), ("Work/reading", 2, 2),
    ]  # fmt: skip
    assert await _in(client, alice, work["id"]) == {a, b}
    assert await _in(client, alice, work["id"], sublists="true") == {a, b, c}
    assert await _in(client, alice, reading["id"]) == {b, c}
    # The library's other filters apply inside a list.
    r = await client.patch(f"/api/bookmarks/{a}", headers=alice.headers, json={"favorite": True})
    assert r.status_code == 200
    assert await _in(client, alice, work["id"], favorite="true") == {a}

    # A bookmark's page says which lists it is in.
    detail = (await client.get(f"/api/bookmarks/{b}", headers=alice.headers)).json()
    assert detail["list_ids"] == [work["id"], reading["id"]]

    r = await client.request(
        "DELETE", f"/api/lists/{work['id']}/bookmarks", headers=alice.headers,
        json={"bookmark_ids": [a]},
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["changed"] == 1
    assert await _in(client, alice, work["id"]) == {b}
    assert (await client.get(f"/api/bookmarks/{a}", headers=alice.headers)).status_code == 200


async def test_names_are_unique_among_siblings_only(client, alice):  # type: ignore[no-untyped-def]
    work = await _make(client, alice, "Work")
    home = await _make(client, alice, "Home")
    await _make(client, alice, "Ideas", work["id"])
    await _make(client, alice, "Ideas", home["id"])  # another parent: fine
    for body in ({"name": "  work "}, {"name": "IDEAS", "parent_id": work["id"]}):
        r = await client.post("/api/lists", headers=alice.headers, json=body)
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "list_name_taken"
    r = await client.patch(f"/api/lists/{home['id']}", headers=alice.headers, json={"name": "WORK"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "list_name_taken"
    r = await client.patch(
        f"/api/lists/{home['id']}", headers=alice.headers, json={"name": "House"}
    )
    assert r.status_code == 200 and r.json()["name"] == "House"
    r = await client.post("/api/lists", headers=alice.headers, json={"name": "   "})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"


async def test_moving_a_list_and_refusing_cycles(client, alice):  # type: ignore[no-untyped-def]
    a = await _make(client, alice, "A")
    b = await _make(client, alice, "B", a["id"])
    c = await _make(client, alice, "C", b["id"])
    for target in (a["id"], c["id"]):  # into itself, or into its own sub-list
        r = await client.patch(
            f"/api/lists/{a['id']}", headers=alice.headers, json={"parent_id": target}
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "list_cycle"
    # C to the top; then A under C.
    r = await client.patch(f"/api/lists/{c['id']}", headers=alice.headers, json={"parent_id": None})
    assert r.status_code == 200 and r.json()["depth"] == 0
    r = await client.patch(
        f"/api/lists/{a['id']}", headers=alice.headers, json={"parent_id": c["id"]}
    )
    assert r.status_code == 200 and r.json()["path"] == ["C", "A"]
    assert [p for p, _, _ in await _tree(client, alice)] == ["C", "C/A", "C/A/B"]
    # Leaving parent_id out keeps the list where it is.
    r = await client.patch(f"/api/lists/{b['id']}", headers=alice.headers, json={"name": "Bee"})
    assert r.json()["path"] == ["C", "A", "Bee"]


async def test_deleting_a_list_keeps_its_bookmarks_and_moves_its_sub_lists_up(client, alice):  # type: ignore[no-untyped-def]
    x, y = await _save(client, alice, "x"), await _save(client, alice, "y")
    top = await _make(client, alice, "Top")
    mid = await _make(client, alice, "Mid", top["id"])
    low = await _make(client, alice, "Low", mid["id"])
    await _make(client, alice, "Low", top["id"])  # the name a moved sub-list would take
    await _add(client, alice, mid["id"], [x])
    await _add(client, alice, low["id"], [y])
    r = await client.delete(f"/api/lists/{mid['id']}", headers=alice.headers)
    assert r.status_code == 204
    assert await _tree(client, alice) == [
        ("Top", 0, 1), ("Top/Low", 0, 0), ("Top/Low (2)", 1, 1),
    ]  # fmt: skip
    assert await _in(client, alice, low["id"]) == {y}
    r = await client.get("/api/bookmarks", headers=alice.headers)
    assert {b["id"] for b in r.json()["items"]} == {x, y}, "no bookmark went with the list"
    r = await client.get(f"/api/lists/{mid['id']}", headers=alice.headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "list_not_found"
    # Deleting a bookmark takes it out of its lists.
    await client.delete(f"/api/bookmarks/{y}", headers=alice.headers)
    assert await _tree(client, alice) == [("Top", 0, 0), ("Top/Low", 0, 0), ("Top/Low (2)", 0, 0)]


async def test_another_users_lists_and_bookmarks_are_404(client, alice, bob):  # type: ignore[no-untyped-def]
    mine = await _make(client, alice, "Mine")
    theirs = await _make(client, bob, "Theirs")
    own = await _save(client, alice, "own")
    other = await _save(client, bob, "other")
    assert await _tree(client, bob) == [("Theirs", 0, 0)]
    h = alice.headers
    for method, path, body in (
        ("GET", f"/api/lists/{theirs['id']}", None),
        ("PATCH", f"/api/lists/{theirs['id']}", {"name": "x"}),
        ("DELETE", f"/api/lists/{theirs['id']}", None),
        ("POST", f"/api/lists/{theirs['id']}/bookmarks", {"bookmark_ids": [own]}),
        ("PATCH", f"/api/lists/{mine['id']}", {"parent_id": theirs["id"]}),
        ("POST", "/api/lists", {"name": "Sub", "parent_id": theirs["id"]}),
        ("GET", f"/api/bookmarks?list={theirs['id']}", None),
        ("GET", f"/api/exports?format=json&list={theirs['id']}", None),
    ):
        r = await client.request(method, path, headers=h, json=body)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error"]["code"] == "list_not_found", (method, path)
    # All or nothing: another user's bookmark among the ids adds none.
    r = await _add(client, alice, mine["id"], [own, other])
    assert r.status_code == 404 and r.json()["error"]["code"] == "bookmark_not_found"
    assert await _tree(client, alice) == [("Mine", 0, 0)]
    assert await _tree(client, bob) == [("Theirs", 0, 0)]


async def test_imported_folders_become_nested_lists_once(app, client, alice):  # type: ignore[no-untyped-def]
    body = await import_file(app, client, alice, "netscape_complex.html")
    assert body["imported"] == 13
    tree = await _tree(client, alice)
    # The browser's own roots ("Bookmarks Toolbar", "Other Bookmarks") are not lists.
    assert [p for p, _, _ in tree] == ["Addons Debug", "English", "ML", "Mozilla Firefox"]
    counts = {p: n for p, n, _ in tree}
    saved = {
        b["url"]: b
        for b in (await client.get("/api/bookmarks?limit=200", headers=alice.headers)).json()[
            "items"
        ]
    }
    ml = saved["https://github.com/Twice22/CS224n-solutions"]
    assert ml["tags"] == [], "a folder is a list, not a tag too"
    lists = {
        x["name"]: x["id"]
        for x in (await client.get("/api/lists", headers=alice.headers)).json()["items"]
    }
    assert ml["id"] in await _in(client, alice, lists["ML"])
    # Importing the same file again makes no second list and no second membership.
    again = await import_file(app, client, alice, "netscape_complex.html")
    assert again["duplicates"] == 13
    assert await _tree(client, alice) == tree
    assert {p: n for p, n, _ in await _tree(client, alice)} == counts

    # Nested folders become nested lists (a Raindrop folder path), found again by name in
    # any case, so a list the user already has is used.
    await _make(client, alice, "reading")
    data = (
        b"id,title,note,excerpt,url,folder,tags,created,cover,highlights,favorite\n"
        b"1,A,,,https://r.example/a,Reading/Later,python,2023-08-14T11:07:16Z,,,false\n"
        b"2,B,,,https://r.example/b,Reading,,2023-08-14T11:07:16Z,,,false\n"
    )
    await import_file(app, client, alice, "raindrop.csv", data)
    tree = await _tree(client, alice)
    assert ("reading", 1, 2) in tree and ("reading/Later", 1, 1) in tree


async def test_the_export_of_one_list(client, alice):  # type: ignore[no-untyped-def]
    a, b, c = [await _save(client, alice, p, title=f"Page {p}") for p in "abc"]
    top = await _make(client, alice, "Top")
    sub = await _make(client, alice, "Sub", top["id"])
    await _add(client, alice, top["id"], [a])
    await _add(client, alice, sub["id"], [b])
    r = await client.get(
        "/api/exports", headers=alice.headers, params={"format": "json", "list": top["id"]}
    )
    assert r.status_code == 200, r.text
    assert "fuze-top-" in r.headers["content-disposition"]
    records = json.loads(r.content)["bookmarks"]
    assert [x["url"] for x in records] == ["https://l.example/a"]
    assert records[0]["lists"] == [["Top"]]
    r = await client.get(
        "/api/exports", headers=alice.headers,
        params={"format": "csv", "list": top["id"], "sublists": "true"},
    )  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert sorted(x["url"] for x in rows) == ["https://l.example/a", "https://l.example/b"]
    r = await client.get("/api/exports", headers=alice.headers, params={"format": "html"})
    assert r.text.count("<DT><A") == 3  # without `list`, everything
    assert c


async def test_a_fuze_export_brings_its_lists_back(app, client, alice, bob):  # type: ignore[no-untyped-def]
    a = await _save(client, alice, "a")
    sub = await _make(client, alice, "Sub", (await _make(client, alice, "Top"))["id"])
    await _add(client, alice, sub["id"], [a])
    exported = (await client.get("/api/exports?format=json", headers=alice.headers)).content
    await import_file(app, client, bob, "fuze.json", exported)
    assert await _tree(client, bob) == [("Top", 0, 1), ("Top/Sub", 1, 1)]


async def test_recommendations_limited_to_a_list(client, alice, bob):  # type: ignore[no-untyped-def]
    titles = {
        "p1": "PostgreSQL connection pooling with pgbouncer",
        "p2": "Tuning PostgreSQL connection pools",
        "p3": "PostgreSQL connection limits explained",
    }
    ids = {k: await _save(client, alice, k, title=t) for k, t in titles.items()}
    chosen = await _make(client, alice, "Chosen")
    ask = {"text": "postgresql connection pooling", "limit": 10}

    async def found(**extra) -> set[str]:  # type: ignore[no-untyped-def]
        r = await client.post("/api/recommendations", headers=alice.headers, json=ask | extra)
        assert r.status_code == 200, r.text
        return {i["bookmark"]["id"] for i in r.json()["items"]}

    assert await found() == set(ids.values())
    assert await found(list_id=chosen["id"]) == set()
    await _add(client, alice, chosen["id"], [ids["p2"]])
    # The membership changed the data version: the answer is computed again, not cached.
    assert await found(list_id=chosen["id"]) == {ids["p2"]}
    assert await found() == set(ids.values())
    theirs = await _make(client, bob, "Theirs")
    r = await client.post(
        "/api/recommendations", headers=alice.headers, json=ask | {"list_id": theirs["id"]}
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "list_not_found"
