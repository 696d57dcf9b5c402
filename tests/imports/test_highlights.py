"""Imports bring the highlights and notes the source kept (Omnivore's ZIP, Raindrop's CSV,
Fuze's own JSON export), onto new and already saved pages alike, each once."""

from __future__ import annotations

import csv
import io
import json
import zipfile

from tests.conftest import register_and_login
from tests.imports.test_api import DATA, import_file


async def highlights_by_url(client, user) -> dict[str, list[tuple[str, str | None, str]]]:  # type: ignore[no-untyped-def]
    r = await client.get("/api/highlights", headers=user.headers, params={"limit": 100})
    assert r.status_code == 200, r.text
    out: dict[str, list[tuple[str, str | None, str]]] = {}
    for h in reversed(r.json()["items"]):  # oldest first
        out.setdefault(h["bookmark"]["url"], []).append((h["quote"], h["note"], h["color"]))
    return out


async def test_omnivore_zip_brings_each_items_highlights_and_notes(app, client, alice):  # type: ignore[no-untyped-def]
    items = json.loads((DATA / "omnivore.json").read_text())
    first, second = items[0], items[1]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("metadata_0_to_20.json", json.dumps(items))
        archive.writestr(
            f"highlights/{first['slug']}.md",
            "> La marque suisse veut s'étendre ailleurs en Asie\n"
            "> et n'exclut pas des acquisitions. [⤴️](https://omnivore.app/me/x#h1)\n\n"
            "À relire avant la réunion.\n\n"
            "> Elle ouvre boutique à Lille et à Monaco. [⤴️](https://omnivore.app/me/x#h2)\n",
        )
        archive.writestr("highlights/some-other-slug.md", "> not an item of this file\n")
    body = await import_file(app, client, alice, "omnivore.zip", buffer.getvalue())
    assert body["imported"] == len(items)
    found = await highlights_by_url(client, alice)
    assert found == {
        first["url"]: [
            (
                "La marque suisse veut s'étendre ailleurs en Asie\net n'exclut pas des acquisitions.",
                "À relire avant la réunion.",
                "yellow",
            ),
            ("Elle ouvre boutique à Lille et à Monaco.", None, "yellow"),
        ]
    }
    assert second["url"] not in found
    # The same file again: the pages are duplicates, and no highlight is added twice.
    await import_file(app, client, alice, "omnivore.zip", buffer.getvalue())
    assert await highlights_by_url(client, alice) == found
    # And search finds the page by its note.
    r = await client.get(
        "/api/search", headers=alice.headers, params={"q": "réunion", "mode": "keyword"}
    )
    assert [h["bookmark"]["url"] for h in r.json()["items"]] == [first["url"]]


async def test_raindrop_csv_highlights_column(app, client, alice):  # type: ignore[no-untyped-def]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["id", "title", "note", "excerpt", "url", "folder", "tags", "created", "cover",
         "highlights", "favorite"]
    )  # fmt: skip
    writer.writerow(
        ["1", "Pools", "", "", "https://r.example/pools", "Dev", "", "2024-01-01T00:00:00Z", "",
         "Highlight: Size the pool to the server.\nNote: check max_connections\n\n"
         "Highlight: Recycle idle connections.", "true"]
    )  # fmt: skip
    writer.writerow(["2", "Plain", "", "", "https://r.example/plain", "", "", "", "", "", "false"])
    body = await import_file(app, client, alice, "raindrop.csv", out.getvalue().encode())
    assert (body["format"], body["imported"]) == ("raindrop_csv", 2)
    assert await highlights_by_url(client, alice) == {
        "https://r.example/pools": [
            ("Size the pool to the server.", "check max_connections", "yellow"),
            ("Recycle idle connections.", None, "yellow"),
        ]
    }


async def test_fuze_json_export_carries_highlights_back(app, client, alice):  # type: ignore[no-untyped-def]
    r = await client.post(
        "/api/bookmarks", headers=alice.headers, json={"url": "https://h.example/essay"}
    )
    bid = r.json()["id"]
    for body in (
        {"quote": "first words", "prefix": "The ", "suffix": " and", "start": 4, "end": 15,
         "color": "blue", "note": "good start"},
        {"quote": "later words", "start": 90, "end": 101, "color": "pink"},
    ):  # fmt: skip
        r = await client.post(f"/api/bookmarks/{bid}/highlights", headers=alice.headers, json=body)
        assert r.status_code == 201, r.text
    r = await client.get("/api/exports?format=json", headers=alice.headers)
    exported = json.loads(r.content)["bookmarks"][0]["highlights"]
    assert [(h["quote"], h["color"], h["start"]) for h in exported] == [
        ("first words", "blue", 4), ("later words", "pink", 90),
    ]  # fmt: skip

    dave = await register_and_login(client)
    await import_file(app, client, dave, "fuze.json", r.content)
    r = await client.get("/api/highlights", headers=dave.headers)
    back = sorted(r.json()["items"], key=lambda h: h["start"])
    assert [
        (h["quote"], h["note"], h["color"], h["prefix"], h["suffix"], h["start"], h["end"])
        for h in back
    ] == [
        ("first words", "good start", "blue", "The ", " and", 4, 15),
        ("later words", None, "pink", "", "", 90, 101),
    ]
