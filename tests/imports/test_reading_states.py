"""Imports keep the reading states the source has (read, archived, favourite), on new
bookmarks only, and Fuze's own exports carry them back."""

from __future__ import annotations

import json
from datetime import datetime

from tests.conftest import register_and_login
from tests.imports.test_api import DATA, import_file


async def everything(client, user) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    """The whole library, archive included, by URL."""
    r = await client.get("/api/bookmarks?limit=200&shelf=all", headers=user.headers)
    assert r.status_code == 200, r.text
    return {b["url"]: b for b in r.json()["items"]}


def states(bookmark: dict) -> tuple[bool, bool, bool]:
    return (
        bookmark["read_at"] is not None,
        bookmark["archived_at"] is not None,
        bookmark["favorite"],
    )


async def test_pocket_archive_is_imported_read_and_archived(app, client, alice):  # type: ignore[no-untyped-def]
    body = await import_file(app, client, alice, "pocket.csv")
    assert body["imported"] == 7
    saved = await everything(client, alice)
    archived = {url for url, b in saved.items() if states(b) == (True, True, False)}
    assert len(archived) == 2
    assert any(url.startswith("https://www.reddit.com/r/DataHoarder") for url in archived)
    assert all(states(b) == (False, False, False) for u, b in saved.items() if u not in archived)
    # The library's default view leaves the archive out.
    r = await client.get("/api/bookmarks?limit=200", headers=alice.headers)
    assert {b["url"] for b in r.json()["items"]} == set(saved) - archived
    # Pocket's file has no date for them: the import's time.
    some = saved[next(iter(archived))]
    assert some["read_at"] == some["archived_at"]

    body = await import_file(app, client, alice, "pocket.html")
    saved = await everything(client, alice)
    assert states(saved["http://getpocket.com/welcome"]) == (True, True, False)
    assert states(saved["http://google.com"]) == (False, False, False)


async def test_favourites_and_archives_of_karakeep_instapaper_and_pinboard(app, client, alice):  # type: ignore[no-untyped-def]
    doc = {
        "bookmarks": [
            {
                "createdAt": 1700000000,
                "title": "Fav",
                "tags": [],
                "content": {"type": "link", "url": "https://k.example/fav"},
                "note": None,
                "archived": True,
                "favourited": True,
            },
            {
                "createdAt": 1700000000,
                "title": "Plain",
                "tags": [],
                "content": {"type": "link", "url": "https://k.example/plain"},
                "note": None,
                "archived": False,
                "favourited": False,
            },
        ]
    }
    await import_file(app, client, alice, "karakeep.json", json.dumps(doc).encode())
    await import_file(app, client, alice, "instapaper-export.csv")
    pinboard = [
        {"href": "https://p.example/read", "description": "R", "toread": "no", "tags": ""},
        {"href": "https://p.example/later", "description": "L", "toread": "yes", "tags": ""},
    ]
    await import_file(app, client, alice, "pinboard.json", json.dumps(pinboard).encode())
    saved = await everything(client, alice)
    assert states(saved["https://k.example/fav"]) == (False, True, True)
    assert states(saved["https://k.example/plain"]) == (False, False, False)
    assert states(saved["https://redditblog.com/2016/09/20/amp-and-reactredux/"]) == (
        False, True, False,
    )  # fmt: skip
    starred = saved[
        "https://medium.com/@the_minh/why-foursquare-swarm-is-still-my-favourite-social-network-e38228493e6c"
    ]
    assert states(starred) == (False, False, True) and starred["tags"] == []
    assert states(saved["https://p.example/read"]) == (True, False, False)
    assert states(saved["https://p.example/later"]) == (False, False, False)


async def test_an_already_saved_page_keeps_its_own_states(app, client, alice):  # type: ignore[no-untyped-def]
    url = "https://www.reddit.com/r/DataHoarder/comments/ioupbk/archivebox_question_how_do_i_import_links_from_a/"
    r = await client.post(
        "/api/bookmarks", headers=alice.headers, json={"url": url, "favorite": True}
    )
    assert r.status_code == 201
    body = await import_file(app, client, alice, "pocket.csv")  # archived in Pocket
    assert (body["imported"], body["duplicates"]) == (6, 1)
    assert states((await everything(client, alice))[url]) == (False, False, True)


async def test_fuze_json_and_csv_exports_keep_the_states(app, client, alice, bob):  # type: ignore[no-untyped-def]
    ids = {}
    for path in ("read", "fav-archived", "plain"):
        r = await client.post(
            "/api/bookmarks", headers=alice.headers, json={"url": f"https://s.example/{path}"}
        )
        assert r.status_code == 201, r.text
        ids[path] = r.json()["id"]
    for path, change in (("read", {"read": True}), ("fav-archived", {"favorite": True})):
        r = await client.patch(f"/api/bookmarks/{ids[path]}", headers=alice.headers, json=change)
        assert r.status_code == 200, r.text
    r = await client.patch(
        f"/api/bookmarks/{ids['fav-archived']}", headers=alice.headers, json={"archived": True}
    )
    assert r.status_code == 200, r.text
    before = await everything(client, alice)

    def kept(library: dict[str, dict]) -> dict[str, tuple]:
        def second(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value).replace(microsecond=0) if value else None

        return {
            url: (second(b["read_at"]), second(b["archived_at"]), b["favorite"])
            for url, b in library.items()
        }

    assert kept(before)["https://s.example/fav-archived"][1:] != (None, False)

    r = await client.get("/api/exports?format=json", headers=alice.headers)
    items = {i["url"]: i for i in json.loads(r.content)["bookmarks"]}
    assert items["https://s.example/fav-archived"]["favorite"] is True
    assert items["https://s.example/plain"]["read_at"] is None
    body = await import_file(app, client, bob, "fuze.json", r.content)
    assert (body["format"], body["imported"]) == ("fuze_json", 3)
    assert kept(await everything(client, bob)) == kept(before)

    carol = await register_and_login(client)
    r = await client.get("/api/exports?format=csv", headers=alice.headers)
    assert r.text.splitlines()[0].endswith(",read_at,favorite,archived_at")
    body = await import_file(app, client, carol, "fuze.csv", r.content)
    assert (body["format"], body["imported"]) == ("fuze_csv", 3)
    assert kept(await everything(client, carol)) == kept(before)


async def test_an_omnivore_archive_stays_archived(app, client, alice):  # type: ignore[no-untyped-def]
    items = json.loads((DATA / "omnivore.json").read_text())
    await import_file(app, client, alice, "omnivore.json")
    saved = await everything(client, alice)
    archived = [i["url"] for i in items if i["state"] == "Archived"]
    assert archived and all(states(saved[u]) == (False, True, False) for u in archived)
    assert sum(states(b)[1] for b in saved.values()) == len(archived)
