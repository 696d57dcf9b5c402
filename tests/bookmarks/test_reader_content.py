"""The reader view's structured content, end to end: saved by the real worker, served by the
real API process (real Postgres, Valkey; only the web is local)."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import wait_for

pytestmark = pytest.mark.usefixtures("pipeline_worker")

PROSE = (
    "Docking a spacecraft takes patience, careful alignment, and a crew that trusts the "
    "instruments more than their eyes, because the last metres are the hardest ones."
)
PAGE = f"""<!DOCTYPE html><html><head><title>Docking, step by step</title></head><body>
<nav><a href="/">Home</a> <a href="/blog">Blog</a></nav>
<article><h1>Docking, step by step</h1>
<p>{PROSE} See <a href="/guides/capture">the capture guide</a>.</p>
<h2>Before the approach</h2><p>{PROSE}</p>
<ul><li>Check the radar<ul><li>Range</li><li>Range rate</li></ul></li><li>Arm the latches</li></ul>
<pre><code>approach(speed=0.1)
  hold(seconds=30)
capture()</code></pre>
<table><tr><th>Phase</th><th>Speed</th></tr><tr><td>Approach</td><td>0.1 m/s</td></tr></table>
<p>{PROSE}<img src="/pic.png" alt="The port" onerror="window.pwned = 1"></p>
<script>window.pwned = 2</script>
<p>{PROSE} <a href="javascript:window.pwned = 3">Click</a></p>
</article><footer>Copyright</footer></body></html>"""


async def _settled(api: httpx.AsyncClient, user, bookmark_id: str) -> dict:  # type: ignore[no-untyped-def]
    async def done():  # type: ignore[no-untyped-def]
        b = (await api.get(f"/api/bookmarks/{bookmark_id}", headers=user.headers)).json()
        return b if b["status"] in ("ready", "failed") else None

    # The first item of a run also waits for the worker to start and load the model.
    return await wait_for(done, within=180, interval=0.2)


async def test_a_saved_page_keeps_its_structure_sanitised(api, api_user, web) -> None:
    web.route("/blog/docking", PAGE, content_type="text/html; charset=utf-8")
    r = await api.post(
        "/api/bookmarks", headers=api_user.headers, json={"url": web.url("/blog/docking")}
    )
    assert r.status_code == 201, r.text
    b = await _settled(api, api_user, r.json()["id"])
    assert b["status"] == "ready", b
    html = b["content_html"]
    assert "<h2>Before the approach</h2>" in html
    assert "<ul><li>Check the radar<ul><li>Range</li><li>Range rate</li></ul></li>" in html
    assert "<pre>approach(speed=0.1)\n  hold(seconds=30)\ncapture()</pre>" in html
    assert "<th>Phase</th>" in html and "<td>0.1 m/s</td>" in html
    assert f'<a href="{web.url("/guides/capture")}" rel="noopener noreferrer nofollow">' in html
    assert f'<img src="{web.url("/pic.png")}" alt="The port">' in html
    for banned in ("<script", "onerror", "javascript:", "pwned", "<nav", "Copyright"):
        assert banned not in html, banned
    assert "Before the approach" in b["text"] and "<" not in b["text"]  # the text stays plain
    # the list does not carry it: it is read with one bookmark
    listed = (await api.get("/api/bookmarks", headers=api_user.headers)).json()["items"]
    assert all("content_html" not in item for item in listed)


async def test_markdown_has_structure_and_plain_text_has_none(api, api_user) -> None:
    md = b"# Docking notes\n\nSoft capture, then *hard* docking.\n\n- latches\n- hooks\n\n```\nhold()\n  wait()\n```\n"

    async def upload(name: str, data: bytes) -> str:
        r = await api.post(
            "/api/bookmarks/upload", headers=api_user.headers, files={"file": (name, data)}
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]

    m = await _settled(api, api_user, await upload("notes.md", md))
    t = await _settled(api, api_user, await upload("notes.txt", b"Plain notes\nNothing more."))
    assert m["status"] == "ready" and t["status"] == "ready"
    assert m["content_html"] == (
        "<h1>Docking notes</h1><p>Soft capture, then <em>hard</em> docking.</p>"
        "<ul><li>latches</li><li>hooks</li></ul><pre>hold()\n  wait()</pre>"
    )
    assert t["content_html"] is None and t["text"].startswith("Plain notes")
