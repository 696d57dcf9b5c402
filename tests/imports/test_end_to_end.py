"""Imports end to end: a real API process, a real worker process (whose second arq worker
serves the import queue), real Postgres, Valkey and model; the web is tests/fakes/web.py."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tests.conftest import wait_for

pytestmark = pytest.mark.usefixtures("pipeline_worker")

ARTICLE = (
    "<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
    + "<p>{title} is a page with enough words in it to be worth indexing for search. " * 12
    + "</p></article></body></html>"
)


def netscape(links: list[tuple[str, str]]) -> bytes:
    rows = "".join(
        f'<DT><A HREF="{url}" ADD_DATE="{1600000000 + i}" TAGS="imported">{title}</A>\n'
        for i, (url, title) in enumerate(links)
    )
    return (
        "<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<TITLE>Bookmarks</TITLE>\n<DL><p>\n"
        f"<DT><H3>Reading</H3>\n<DL><p>\n{rows}</DL><p>\n</DL><p>\n"
    ).encode()


async def _upload(api: httpx.AsyncClient, user, data: bytes) -> dict:  # type: ignore[no-untyped-def]
    r = await api.post(
        "/api/imports", headers=user.headers, files={"file": ("bookmarks.html", data, "text/html")}
    )
    assert r.status_code == 202, r.text
    return r.json()


async def _events(api: httpx.AsyncClient, user, out: list, stop: asyncio.Event) -> None:  # type: ignore[no-untyped-def]
    async with api.stream("GET", "/api/events", headers=user.headers) as r:
        name = None
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name == "import.progress":
                out.append(json.loads(line[6:]))
                if out[-1]["status"] == "done":
                    stop.set()
                    return


async def test_an_import_runs_to_done_with_progress_events_and_reasons(api, api_user, web):  # type: ignore[no-untyped-def]
    for i in range(3):
        web.route(f"/imp/ok{i}", ARTICLE.format(title=f"Imported article {i}"))
    links = [(web.url(f"/imp/ok{i}"), f"Article {i}") for i in range(3)]
    links += [(web.url("/status/404"), "Gone"), (web.url("/imp/ok0?utm_source=x"), "Dup")]
    links += [("ftp://files.example/x", "Not the web")]

    events: list[dict] = []
    done = asyncio.Event()
    reader = asyncio.create_task(_events(api, api_user, events, done))
    await asyncio.sleep(0.5)  # subscribed
    accepted = await _upload(api, api_user, netscape(links))
    assert accepted["total"] == 6 and accepted["status"] == "queued"

    async def finished():  # type: ignore[no-untyped-def]
        r = await api.get(f"/api/imports/{accepted['id']}", headers=api_user.headers)
        body = r.json()
        return body if body["status"] == "done" else None

    body = await wait_for(finished, within=90, interval=0.3)
    assert (body["total"], body["imported"], body["duplicates"], body["invalid"]) == (6, 4, 1, 1)
    assert (body["ready"], body["failed"], body["pending"]) == (3, 2, 0)
    assert body["processed"] == body["total"]
    reasons = {e["url"]: (e["outcome"], e["reason"]) for e in body["failed_entries"]["items"]}
    assert reasons["ftp://files.example/x"][0] == "invalid"
    assert reasons[web.url("/status/404")][0] == "imported"
    assert "404" in reasons[web.url("/status/404")][1]

    await asyncio.wait_for(done.wait(), 30)
    reader.cancel()
    assert events[-1]["status"] == "done" and events[-1]["ready"] == 3
    assert any(e["status"] == "parsing" for e in events)
    assert any(e["status"] == "processing" for e in events)

    # The file's folder became a list (not a tag): the imported pages are in it.
    lists = (await api.get("/api/lists", headers=api_user.headers)).json()["items"]
    [reading] = [x["id"] for x in lists if x["path"] == ["Reading"]]
    r = await api.get(f"/api/bookmarks?list={reading}", headers=api_user.headers)
    assert {b["status"] for b in r.json()["items"]} == {"ready", "failed"}
    assert len(r.json()["items"]) == 4


async def test_an_interactive_save_is_ready_while_a_large_import_is_still_queued(
    api, api_user, web
):  # type: ignore[no-untyped-def]
    # Each imported page takes 0.6 s to answer; the import queue has a few job slots, so these
    # 300 pages keep it busy for well over a minute.
    web.route("/imp/slow", ARTICLE.format(title="Slow imported page"), delay=0.6)
    links = [(web.url(f"/imp/slow?n={i}"), f"Slow {i}") for i in range(300)]
    accepted = await _upload(api, api_user, netscape(links))

    async def parsed():  # type: ignore[no-untyped-def]
        r = await api.get(f"/api/imports/{accepted['id']}", headers=api_user.headers)
        return r.json() if r.json()["parsed"] == 300 else None

    await wait_for(parsed, within=60, interval=0.2)

    web.route("/interactive", ARTICLE.format(title="Saved by hand"))
    r = await api.post(
        "/api/bookmarks", headers=api_user.headers, json={"url": web.url("/interactive")}
    )
    assert r.status_code == 201
    bookmark_id = r.json()["id"]

    async def ready():  # type: ignore[no-untyped-def]
        b = (await api.get(f"/api/bookmarks/{bookmark_id}", headers=api_user.headers)).json()
        return b if b["status"] in ("ready", "failed") else None

    saved = await wait_for(ready, within=60, interval=0.2)
    assert saved["status"] == "ready", saved
    progress = (await api.get(f"/api/imports/{accepted['id']}", headers=api_user.headers)).json()
    # The import is far from done: its pages wait on their own queue, behind nothing of ours.
    assert progress["status"] == "processing"
    assert progress["pending"] > 100, progress
