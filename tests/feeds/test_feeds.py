"""Feed subscriptions end to end: a real API process and worker read RSS and Atom feeds from a
local server that honours ETag and Last-Modified, save new items once, report errors per
feed, and take and give OPML."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import wait_for

pytestmark = pytest.mark.usefixtures("pipeline_worker")


def rss(items: list[tuple[str, str]]) -> str:
    entries = "".join(
        f"<item><title>{t}</title><link>{u}</link><guid>{u}</guid>"
        f"<pubDate>Wed, 0{i + 1} Dec 2026 10:00:00 GMT</pubDate></item>"
        for i, (t, u) in enumerate(items)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>The Test Blog</title>'
        f"<link>https://blog.example/</link>{entries}</channel></rss>"
    )


class FeedServer:
    """Serves feeds by path, with an ETag: a request that sends it back gets a 304."""

    def __init__(self) -> None:
        self.docs: dict[str, tuple[str, str]] = {}  # path -> (body, content type)
        self.requests: list[tuple[str, dict[str, str], int]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                doc = server.docs.get(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                if doc is None:
                    status, body = 404, b"no feed here"
                else:
                    etag = f'"{abs(hash(doc[0]))}"'
                    status = 304 if headers.get("if-none-match") == etag else 200
                    body = doc[0].encode() if status == 200 else b""
                server.requests.append((self.path, headers, status))
                self.send_response(status)
                if doc is not None:
                    self.send_header("ETag", f'"{abs(hash(doc[0]))}"')
                    self.send_header("Content-Type", doc[1])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    s = FeedServer()
    yield s
    s.server.shutdown()


async def _feed(api, user, fid: str) -> dict:  # type: ignore[no-untyped-def]
    items = (await api.get("/api/feeds", headers=user.headers)).json()["items"]
    return next(f for f in items if f["id"] == fid)


async def _urls(api, user) -> set[str]:  # type: ignore[no-untyped-def]
    r = await api.get("/api/bookmarks", headers=user.headers, params={"limit": 100})
    return {b["url"] for b in r.json()["items"]}


async def test_new_items_are_saved_once_and_an_unchanged_feed_costs_a_304(
    api, api_user, web, feeds
):
    pages = [(f"Post {n}", web.url(f"/blog/post-{n}")) for n in range(1, 13)]
    for title, url in pages:
        web.route(url.split(str(web.port))[1], f"<title>{title}</title><p>{title} body text.</p>")
    feeds.docs["/rss.xml"] = (rss(pages), "application/rss+xml")
    r = await api.post(
        "/api/feeds", headers=api_user.headers,
        json={"url": f"{feeds.base}/rss.xml", "tags": ["blog"], "interval_minutes": 15},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    fid = r.json()["id"]
    # The schedule leaves the feed to the read queued on subscribing: were it due at once, the
    # sweeper (every second here) would queue a second read beside it, without the ETag.
    created = datetime.fromisoformat(r.json()["created_at"])
    assert datetime.fromisoformat(r.json()["next_check_at"]) >= created + timedelta(minutes=1)

    checked: list[str] = []

    async def read(times: int):  # type: ignore[no-untyped-def]
        """The feed once it has been read `times` times (each read dates it anew)."""
        f = await _feed(api, api_user, fid)
        if f["last_checked_at"] and f["last_checked_at"] not in checked:
            checked.append(f["last_checked_at"])
        return f if len(checked) >= times else None

    async def settled(times: int) -> dict:  # type: ignore[type-arg]
        """The next read that reached the feed: one that failed on a loaded machine (its
        fetch timed out) is tried again, as the schedule would."""
        for _ in range(5):
            f = await wait_for(lambda times=times: read(times), within=120)
            if f["last_status"] != "error":
                return f
            times += 1
            await api.post(f"/api/feeds/{fid}/refresh", headers=api_user.headers)
        raise AssertionError(f"the feed kept failing: {f['last_error']}")

    first = await settled(1)
    assert first["last_status"] == "ok" and first["title"] == "The Test Blog"
    assert datetime.fromisoformat(first["next_check_at"]) == datetime.fromisoformat(
        first["last_checked_at"]
    ) + timedelta(minutes=15)
    assert first["items_saved"] == 10, "a new subscription saves its newest 10 items"
    saved = await _urls(api, api_user)
    assert saved == {u for _, u in pages[2:]}, "the newest ten, by date"
    r = await api.get("/api/bookmarks", headers=api_user.headers, params={"tag": "blog"})
    assert len(r.json()["items"]) == 10

    # Nothing changed: the feed answers 304, and nothing is saved again.
    r = await api.post(f"/api/feeds/{fid}/refresh", headers=api_user.headers)
    assert r.status_code == 202
    assert datetime.fromisoformat(r.json()["next_check_at"]) > datetime.now(UTC)
    again = await settled(len(checked) + 1)
    assert feeds.requests[-1][1].get("if-none-match") and feeds.requests[-1][2] == 304
    assert again["last_status"] == "not_modified" and again["items_saved"] == 10

    # A new post appears: only it is saved; one deleted by the user is not saved back.
    gone = next(
        b for b in (await api.get("/api/bookmarks", headers=api_user.headers)).json()["items"]
    )
    await api.delete(f"/api/bookmarks/{gone['id']}", headers=api_user.headers)
    pages.append(("Post 13", web.url("/blog/post-13")))
    web.route("/blog/post-13", "<title>Post 13</title><p>Thirteen.</p>")
    feeds.docs["/rss.xml"] = (rss(pages), "application/rss+xml")
    await api.post(f"/api/feeds/{fid}/refresh", headers=api_user.headers)
    third = await settled(len(checked) + 1)
    assert third["items_saved"] == 11
    now = await _urls(api, api_user)
    assert web.url("/blog/post-13") in now and gone["url"] not in now


async def test_errors_are_shown_per_feed_and_bad_input_refused(api, api_user, api_user2, feeds):
    feeds.docs["/notes.txt"] = ("just some text, not a feed", "text/plain")
    for path in ("/missing.xml", "/notes.txt"):
        r = await api.post("/api/feeds", headers=api_user.headers, json={"url": feeds.base + path})
        fid = r.json()["id"]

        async def failed(fid: str = fid):  # type: ignore[no-untyped-def]
            f = await _feed(api, api_user, fid)
            return f if f["last_status"] == "error" else None

        f = await wait_for(failed, within=120)
        assert f["last_error"], f
        assert ("404" in f["last_error"]) == (path == "/missing.xml"), f["last_error"]
        # Read again, it is still an error: a page that is not a feed is never "not modified".
        await api.post(f"/api/feeds/{fid}/refresh", headers=api_user.headers)

        async def checked_again(fid: str = fid, before: str = f["last_checked_at"]):  # type: ignore[no-untyped-def]
            again = await _feed(api, api_user, fid)
            return again if again["last_checked_at"] != before else None

        again = await wait_for(checked_again, within=120)
        assert again["last_status"] == "error" and again["last_error"] == f["last_error"], again
    r = await api.post(
        "/api/feeds", headers=api_user.headers, json={"url": feeds.base + "/notes.txt"}
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "feed_exists"
    for body in [{"url": "not a url"}, {"url": "https://x.example/f", "interval_minutes": 1}]:
        r = await api.post("/api/feeds", headers=api_user.headers, json=body)
        assert r.status_code == 422, body
    r = await api.patch(f"/api/feeds/{fid}", headers=api_user2.headers, json={"active": False})
    assert r.status_code == 404
    assert (await api.delete(f"/api/feeds/{fid}", headers=api_user2.headers)).status_code == 404


async def test_opml_in_and_out(api, api_user, feeds):
    atom = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>Atom Journal</title><link href='https://atom.example/'/>"
        "<entry><title>First</title><link href='https://atom.example/first'/><id>tag:1</id>"
        "<updated>2026-12-01T10:00:00Z</updated></entry></feed>"
    )
    feeds.docs["/atom.xml"] = (atom, "application/atom+xml")
    opml = (
        '<?xml version="1.0"?><opml version="2.0"><head><title>Mine</title></head><body>'
        f'<outline text="Tech"><outline type="rss" text="Atom Journal" xmlUrl="{feeds.base}/atom.xml"/>'
        '<outline text="No address"/></outline>'
        '<outline type="rss" text="Bad" xmlUrl="javascript:alert(1)"/></body></opml>'
    )
    r = await api.post(
        "/api/feeds/opml", headers=api_user.headers, files={"file": ("feeds.opml", opml.encode())}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"added": 1, "already": 0, "invalid": 1}
    items = (await api.get("/api/feeds", headers=api_user.headers)).json()["items"]
    assert [(f["title"], f["tags"]) for f in items] == [("Atom Journal", ["Tech"])]
    r = await api.post(
        "/api/feeds/opml", headers=api_user.headers, files={"file": ("feeds.opml", opml.encode())}
    )
    assert r.json() == {"added": 0, "already": 1, "invalid": 1}
    r = await api.post(
        "/api/feeds/opml", headers=api_user.headers,
        files={"file": ("x.opml", b'<!DOCTYPE x [<!ENTITY a "aaaa">]><opml/>')},
    )  # fmt: skip
    assert r.status_code == 422

    r = await api.get("/api/feeds/opml", headers=api_user.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/x-opml")
    assert f'xmlUrl="{feeds.base}/atom.xml"' in r.text and 'text="Atom Journal"' in r.text
