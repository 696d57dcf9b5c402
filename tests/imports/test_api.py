"""Imports through the API with the parse job run in this process (inside the test's rolled
back transaction): formats, accounting, duplicates, limits, ownership, exports."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import bind_system
from app.imports import jobs
from app.imports.service import IMPORT_QUEUE
from app.main import create_app
from tests.conftest import Account, bind_to, close_app, make_settings, register_and_login

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "imports"


async def upload(
    client: httpx.AsyncClient, user: Account, name: str, data: bytes
) -> httpx.Response:
    return await client.post(
        "/api/imports",
        headers=user.headers,
        files={"file": (name, data, "application/octet-stream")},
    )


async def run_parse(app: FastAPI, import_id: str) -> str:
    ctx = {
        "settings": app.state.settings,
        "sessionmaker": app.state.sessionmaker,
        "redis": app.state.redis,
    }
    return await jobs.parse_import(ctx, import_id)


async def import_file(app, client, user, name: str, data: bytes | None = None) -> dict:  # type: ignore[no-untyped-def]
    r = await upload(client, user, name, data if data is not None else (DATA / name).read_bytes())
    assert r.status_code == 202, r.text
    await run_parse(app, r.json()["id"])
    r = await client.get(f"/api/imports/{r.json()['id']}", headers=user.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def all_bookmarks(client, user) -> list[dict]:  # type: ignore[no-untyped-def]
    r = await client.get("/api/bookmarks?limit=200", headers=user.headers)
    return r.json()["items"]


async def test_a_netscape_file_is_accepted_then_every_entry_saved(app, client, alice, redis):  # type: ignore[no-untyped-def]
    r = await upload(client, alice, "bookmarks.html", (DATA / "netscape_complex.html").read_bytes())
    assert r.status_code == 202, r.text
    accepted = r.json()
    assert accepted["status"] == "queued" and accepted["format"] == "netscape"
    assert accepted["total"] == 14 and accepted["parsed"] == 0
    # The parse job waits on the import queue, not the interactive one.
    assert await redis.zcard(IMPORT_QUEUE) == 1 and await redis.zcard("arq:queue") == 0

    await run_parse(app, accepted["id"])
    body = (await client.get(f"/api/imports/{accepted['id']}", headers=alice.headers)).json()
    # One Firefox "place:" query is not a web page: invalid, with its reason.
    assert (body["total"], body["imported"], body["duplicates"], body["invalid"]) == (14, 13, 0, 1)
    assert body["total"] == body["imported"] + body["duplicates"] + body["invalid"]
    assert body["status"] == "processing" and body["pending"] == 13
    assert body["failed"] == 1 and body["processed"] == 1
    [failed] = body["failed_entries"]["items"]
    assert failed["url"].startswith("place:") and failed["line"] == 10
    assert failed["reason_code"] == "invalid_url" and "http" in failed["reason"]

    saved = {b["url"]: b for b in await all_bookmarks(client, alice)}
    assert len(saved) == 13
    ml = saved["https://github.com/Twice22/CS224n-solutions"]
    # Its folder became a list (GET /api/lists), not a tag.
    assert ml["tags"] == [] and ml["source"] == "import" and ml["status"] == "pending"
    assert ml["notes"].startswith("CS224n-solutions - Solutions")
    assert ml["saved_at"].startswith(datetime.fromtimestamp(1518388024, UTC).isoformat()[:19])
    # Their pipeline jobs went to the import queue too.
    queued = [j.decode() for j in await redis.zrange(IMPORT_QUEUE, 0, -1)]
    assert sum(j.startswith("fetch_bookmark:") for j in queued) == 13
    assert await redis.zcard("arq:queue") == 0


async def test_duplicates_in_the_file_and_in_the_library_are_counted_and_tags_merged(
    app, client, alice
):  # type: ignore[no-untyped-def]
    r = await client.post(
        "/api/bookmarks",
        headers=alice.headers,
        json={"url": "https://example.com/kept", "tags": ["mine"]},
    )
    assert r.status_code == 201
    data = (
        b"title,url,time_added,tags,status\n"
        b"Kept,https://example.com/kept?utm_source=x,1600000000,pocket,unread\n"
        b"New,https://example.com/new,1600000001,a,unread\n"
        b"Again,https://EXAMPLE.com/new/,1600000002,b,unread\n"
        b"Bad,javascript:alert(1),1600000003,,unread\n"
    )
    body = await import_file(app, client, alice, "pocket.csv", data)
    assert (body["total"], body["imported"], body["duplicates"], body["invalid"]) == (4, 1, 2, 1)
    entries = (await client.get(f"/api/imports/{body['id']}/entries", headers=alice.headers)).json()
    outcome = {e["position"]: (e["outcome"], e["reason_code"], e["line"]) for e in entries["items"]}
    assert outcome == {
        1: ("duplicate", "already_saved", 2),
        2: ("imported", None, 3),
        3: ("duplicate", "duplicate_in_file", 4),
        4: ("invalid", "invalid_url", 5),
    }
    assert "entry 2" in entries["items"][2]["reason"]
    saved = {b["url"]: b for b in await all_bookmarks(client, alice)}
    assert saved["https://example.com/kept"]["tags"] == ["mine", "pocket"]
    assert saved["https://example.com/new"]["tags"] == ["a", "b"]
    assert len(saved) == 2


@pytest.mark.parametrize(
    ("name", "fmt", "total"),
    [
        ("pocket.html", "pocket_html", 5),
        ("pocket.csv", "pocket_csv", 7),
        ("instapaper-export.csv", "instapaper_csv", 4),
        ("omnivore.json", "omnivore", 20),
        ("shaarli-bookmarks.html", "netscape", 2),
        ("firefox_osint_large.html", "netscape", 323),
    ],
)
async def test_real_exports_account_for_every_entry(app, client, alice, name, fmt, total):  # type: ignore[no-untyped-def]
    body = await import_file(app, client, alice, name)
    assert body["format"] == fmt and body["total"] == total
    assert body["parsed"] == total
    assert body["imported"] + body["duplicates"] + body["invalid"] == total
    assert body["imported"] > 0


async def test_a_list_of_urls_and_a_karakeep_export(app, client, alice):  # type: ignore[no-untyped-def]
    body = await import_file(
        app,
        client,
        alice,
        "links.txt",
        b"https://a.example/1\nnot-a-url here\nhttps://a.example/2\n",
    )
    assert (body["imported"], body["invalid"]) == (2, 1)
    assert body["failed_entries"]["items"][0]["line"] == 2
    doc = {
        "bookmarks": [
            {
                "createdAt": 1700000000,
                "title": "K",
                "tags": ["k"],
                "content": {"type": "link", "url": "https://k.example/"},
                "note": "n",
            },
            {
                "createdAt": 1700000000,
                "title": None,
                "tags": [],
                "content": {"type": "text", "text": "x"},
                "note": None,
            },
        ]
    }
    body = await import_file(app, client, alice, "karakeep.json", json.dumps(doc).encode())
    assert (body["format"], body["imported"], body["invalid"]) == ("karakeep", 1, 1)
    assert "text" in body["failed_entries"]["items"][0]["reason"]


async def test_malformed_files_get_422_saying_where(client, alice):  # type: ignore[no-untyped-def]
    r = await upload(client, alice, "x.json", b'[{"url": "https://a.example"},\n{"url": ]')
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "import_malformed" and "line 2" in error["message"]
    assert error["details"]["line"] == 2
    r = await upload(client, alice, "notes.txt", b"dear diary\n")
    assert r.status_code == 422 and "does not recognise" in r.json()["error"]["message"]
    r = await upload(client, alice, "empty.html", b"")
    assert r.status_code == 422
    # Nothing was stored for them.
    assert (await client.get("/api/imports", headers=alice.headers)).json()["items"] == []


async def test_another_users_import_is_404(app, client, alice, bob):  # type: ignore[no-untyped-def]
    r = await upload(client, alice, "links.txt", b"https://a.example/1\n")
    import_id = r.json()["id"]
    for path in (f"/api/imports/{import_id}", f"/api/imports/{import_id}/entries"):
        r = await client.get(path, headers=bob.headers)
        assert r.status_code == 404 and r.json()["error"]["code"] == "import_not_found"
    assert (await client.get("/api/imports", headers=bob.headers)).json()["items"] == []
    listed = (await client.get("/api/imports", headers=alice.headers)).json()["items"]
    assert [i["id"] for i in listed] == [import_id]


@pytest.fixture
async def small_cap_app(stack, db: AsyncConnection):  # type: ignore[no-untyped-def]
    application = create_app(make_settings(stack, import_max_bytes=2000))
    bind_to(application, db)
    yield application
    await close_app(application)


async def test_a_file_over_the_cap_gets_a_clear_413(small_cap_app):  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=small_cap_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        user = await register_and_login(c)
        r = await upload(c, user, "big.txt", b"https://a.example/\n" * 200)  # 3,800 bytes
        assert r.status_code == 413
        error = r.json()["error"]
        assert error["code"] == "import_too_large" and "limited to" in error["message"]
        assert error["details"]["limit_bytes"] == 2000
        # A body that announces more than the cap is refused before it is read.
        r = await c.post(
            "/api/imports",
            headers={
                **user.headers,
                "Content-Type": "multipart/form-data; boundary=x",
                "Content-Length": str(5 * 1024 * 1024),
            },
            content=b"--x\r\n",
        )
        assert r.status_code == 413
        r = await upload(c, user, "ok.txt", b"https://a.example/\n")
        assert r.status_code == 202


async def _saved_library(client, user) -> list[tuple]:  # type: ignore[no-untyped-def]
    out = []
    for b in await all_bookmarks(client, user):
        saved = datetime.fromisoformat(b["saved_at"]).replace(microsecond=0)
        out.append((b["url"], b["title"], b["notes"], sorted(b["tags"]), saved))
    return sorted(out)


async def test_html_export_reimports_losslessly(app, client, alice, bob):  # type: ignore[no-untyped-def]
    tricky = {
        "url": "https://example.com/a?q=1&b=<2>",
        "title": 'Quotes " and <tags> & ampersands',
        "notes": "Line one\nLine two with <b>markup</b> & more\n\nafter a blank line",
        "tags": ["Python", "web dev", "ünïcode"],
    }
    for body in (
        tricky,
        {"url": "https://example.com/plain"},
        {"url": "https://example.com/t", "title": "Only a title"},
    ):
        r = await client.post("/api/bookmarks", headers=alice.headers, json=body)
        assert r.status_code == 201, r.text
    await import_file(app, client, alice, "linkding_netscape.html")  # dates from 2021
    before = await _saved_library(client, alice)
    assert len(before) == 6

    r = await client.get("/api/exports?format=html", headers=alice.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "attachment" in r.headers["content-disposition"]
    assert r.text.startswith("<!DOCTYPE NETSCAPE-Bookmark-file-1>")
    body = await import_file(app, client, bob, "fuze.html", r.content)
    assert (body["format"], body["imported"], body["invalid"]) == ("netscape", 6, 0)
    assert await _saved_library(client, bob) == before


async def test_json_and_csv_exports_carry_everything_and_reimport(app, client, alice, bob):  # type: ignore[no-untyped-def]
    r = await client.post(
        "/api/bookmarks",
        headers=alice.headers,
        json={
            "url": "https://example.com/j",
            "title": "J, with comma",
            "notes": "multi\nline",
            "tags": ["x", "y"],
        },
    )
    assert r.status_code == 201
    r = await client.get("/api/exports?format=json", headers=alice.headers)
    doc = json.loads(r.content)
    assert doc["fuze_export"] == 1
    [item] = doc["bookmarks"]
    assert (item["title"], item["notes"], item["tags"]) == (
        "J, with comma",
        "multi\nline",
        ["x", "y"],
    )
    r = await client.get("/api/exports?format=csv", headers=alice.headers)
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows[0]["tags"] == "x,y" and rows[0]["notes"] == "multi\nline"
    body = await import_file(app, client, bob, "fuze.json", json.dumps(doc).encode())
    assert (body["format"], body["imported"]) == ("fuze_json", 1)
    body = await import_file(app, client, bob, "fuze.csv", r.content)
    assert (body["format"], body["duplicates"]) == ("fuze_csv", 1)
    [b] = await all_bookmarks(client, bob)
    assert (b["title"], b["notes"], sorted(b["tags"])) == (
        "J, with comma",
        "multi\nline",
        ["x", "y"],
    )
    # An empty library exports a valid, empty file.
    r = await client.get(
        "/api/exports?format=json", headers=(await register_and_login(client)).headers
    )
    assert json.loads(r.content)["bookmarks"] == []


async def test_exports_are_per_user(client, alice, bob):  # type: ignore[no-untyped-def]
    await client.post(
        "/api/bookmarks", headers=alice.headers, json={"url": "https://example.com/secret"}
    )
    r = await client.get("/api/exports?format=csv", headers=bob.headers)
    assert "secret" not in r.text
    r = await client.get("/api/exports?format=html")
    assert r.status_code == 401


async def test_a_parse_cut_short_resumes_after_its_last_saved_batch(
    app, client, alice, monkeypatch
):  # type: ignore[no-untyped-def]
    lines = "".join(f"https://resume.example/{i}\n" for i in range(10)).encode()
    r = await upload(client, alice, "links.txt", lines)
    import_id = r.json()["id"]
    settings = app.state.settings.model_copy(update={"import_batch_size": 3})
    ctx = {"settings": settings, "sessionmaker": app.state.sessionmaker, "redis": app.state.redis}
    real = jobs.service.save_entries
    calls = 0

    async def crash_on_the_third_batch(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("worker killed")
        return await real(*args, **kwargs)

    monkeypatch.setattr(jobs.service, "save_entries", crash_on_the_third_batch)
    with pytest.raises(RuntimeError):
        await jobs.parse_import(ctx, import_id)
    body = (await client.get(f"/api/imports/{import_id}", headers=alice.headers)).json()
    assert (body["status"], body["parsed"], body["imported"]) == ("parsing", 6, 6)

    monkeypatch.setattr(jobs.service, "save_entries", real)
    await jobs.parse_import(ctx, import_id)  # arq runs it again
    body = (await client.get(f"/api/imports/{import_id}", headers=alice.headers)).json()
    assert (body["parsed"], body["imported"], body["duplicates"]) == (10, 10, 0)
    entries = (await client.get(f"/api/imports/{import_id}/entries", headers=alice.headers)).json()
    assert [e["position"] for e in entries["items"]] == list(range(1, 11))
    assert len(await all_bookmarks(client, alice)) == 10


async def test_an_import_whose_parse_job_was_lost_is_queued_again(app, client, alice, redis):  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from sqlalchemy import update

    from app.imports.models import ImportBatch

    r = await upload(client, alice, "links.txt", b"https://lost.example/1\n")
    import_id = r.json()["id"]
    await redis.flushdb()  # Redis lost the job
    async with app.state.sessionmaker() as session:
        await bind_system(session)  # as an operator would
        await session.execute(
            update(ImportBatch)
            .where(ImportBatch.id == import_id)
            .values(updated_at=datetime.now(UTC) - timedelta(minutes=5))
        )
        await session.commit()
    ctx = {"settings": app.state.settings, "sessionmaker": app.state.sessionmaker, "redis": redis}
    assert await jobs.requeue_lost_imports(ctx) >= 1
    assert f"parse_import:{import_id}".encode() in await redis.zrange(IMPORT_QUEUE, 0, -1)
    await run_parse(app, import_id)
    body = (await client.get(f"/api/imports/{import_id}", headers=alice.headers)).json()
    assert (body["parsed"], body["imported"]) == (1, 1)


async def test_the_sweeper_requeues_a_lost_imported_page_on_the_import_queue(
    app, client, alice, redis
):  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from sqlalchemy import update

    from app.bookmarks import jobs as bookmark_jobs
    from app.bookmarks.models import Bookmark

    await import_file(app, client, alice, "links.txt", b"https://swept.example/1\n")
    r = await client.post(
        "/api/bookmarks", headers=alice.headers, json={"url": "https://swept.example/2"}
    )
    await redis.flushdb()  # every job lost
    async with app.state.sessionmaker() as session:
        await bind_system(session)  # as an operator would
        await session.execute(
            update(Bookmark)
            .where(Bookmark.url.like("https://swept.example/%"))
            .values(status_changed_at=datetime.now(UTC) - timedelta(hours=1))
        )
        await session.commit()
    ctx = {"settings": app.state.settings, "sessionmaker": app.state.sessionmaker, "redis": redis}
    await bookmark_jobs.sweep(ctx)
    by_url = {b["url"]: b["id"] for b in await all_bookmarks(client, alice)}
    imported, saved = by_url["https://swept.example/1"], r.json()["id"]
    on_imports = [j.decode() for j in await redis.zrange(IMPORT_QUEUE, 0, -1)]
    interactive = [j.decode() for j in await redis.zrange("arq:queue", 0, -1)]
    assert f"fetch_bookmark:{imported}:1" in on_imports
    assert f"fetch_bookmark:{saved}:1" in interactive
    assert not any(imported in j for j in interactive)
