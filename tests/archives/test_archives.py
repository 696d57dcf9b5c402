"""Page archives end to end: a real API process and arq worker archive a page served by the
local web server, with its stylesheet, font, images and scripts; the copy holds everything it
needs and nothing that runs, opens through a short-lived link with a sandboxing policy, and
belongs to its owner alone."""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
import zipfile

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import owner_engine, wait_for

pytestmark = pytest.mark.usefixtures("pipeline_worker")

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
PAGE = """<!DOCTYPE html><html><head><title>Docking notes</title>
<link rel="stylesheet" href="/arc/style.css">
<script src="/arc/tracker.js"></script><script>window.pwned = 1</script>
<meta http-equiv="refresh" content="0; url=https://example.com/elsewhere">
</head><body onload="window.pwned = 2">
<article><h1>Docking notes</h1>
<p>Soft capture comes first, then the hooks close for a hard dock, and the seal is checked.</p>
<img src="/arc/diagram.png" alt="The diagram" onerror="window.pwned = 3">
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-src="/arc/lazy.png" alt="Lazy">
<img src="/arc/missing.png" alt="Gone">
<a href="javascript:window.pwned = 4">click</a> <a href="/arc/next">next</a>
<iframe src="https://example.com/ad"></iframe>
<svg><script>window.pwned = 5</script></svg>
</article></body></html>"""
CSS = b"@import url(more.css); body { background: url(bg.png); } @font-face { font-family: X; src: url(/arc/font.woff2); }"


def _serve(web) -> None:  # type: ignore[no-untyped-def]
    web.route("/arc/page", PAGE)
    web.route("/arc/style.css", CSS, content_type="text/css")
    web.route("/arc/more.css", b"h1 { color: rgb(1, 2, 3); }", content_type="text/css")
    web.route("/arc/bg.png", PNG, content_type="image/png")
    web.route("/arc/diagram.png", PNG, content_type="image/png")
    web.route("/arc/lazy.png", PNG, content_type="image/png")
    web.route("/arc/font.woff2", b"wOF2fakefont", content_type="font/woff2")
    web.route("/arc/tracker.js", b"window.pwned = 6", content_type="text/javascript")


async def _archives(api, user, bookmark_id: str) -> list[dict]:  # type: ignore[no-untyped-def]
    r = await api.get(f"/api/bookmarks/{bookmark_id}/archives", headers=user.headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def _archived(api, user, bookmark_id: str, count: int = 1) -> list[dict]:  # type: ignore[no-untyped-def]
    async def ready():  # type: ignore[no-untyped-def]
        items = await _archives(api, user, bookmark_id)
        return items if len(items) >= count else None

    return await wait_for(ready, within=300, interval=0.3)


async def test_a_saved_page_is_archived_whole_and_inert(api, api_user, api_user2, web):
    _serve(web)
    r = await api.post(
        "/api/bookmarks", headers=api_user.headers, json={"url": web.url("/arc/page")}
    )
    assert r.status_code == 201, r.text
    bookmark_id = r.json()["id"]
    [archive] = await _archived(api, api_user, bookmark_id)
    assert archive["status"] == "ready", archive
    # Stylesheet, imported stylesheet, background, font, two images: inlined. The missing image
    # is listed with its reason; scripts are not fetched at all.
    assert archive["assets"] == 6, archive
    assert [(f["url"].rsplit("/", 1)[1], "404" in f["reason"]) for f in archive["failures"]] == [
        ("missing.png", True)
    ]
    assert web.hits.get("/arc/tracker.js", 0) == 0
    # On disk: the compressed copy and the reader's images (checked in the ZIP export's test).
    assert archive["stored_bytes"] > 0

    link = await api.post(f"/api/archives/{archive['id']}/link", headers=api_user.headers)
    assert link.status_code == 200, link.text
    async with httpx.AsyncClient(base_url=str(api.base_url), timeout=30) as tab:  # no credentials
        page = await tab.get(link.json()["url"])
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"].startswith("sandbox;")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    body = page.text
    assert "Soft capture comes first" in body
    assert "rgb(1, 2, 3)" in body, "the imported stylesheet is inlined"
    assert body.count("data:image/png;base64,") == 3 and "data:font/woff2;base64," in body
    assert 'src="/arc/' not in body and "url(bg.png)" not in body
    assert not re.search(r"<script|<iframe|onload=|onerror=|javascript:|http-equiv=\"refresh", body)
    assert 'href="' + web.url("/arc/next") + '"' in body

    # The link opens this archive only, and only with its token.
    async with httpx.AsyncClient(base_url=str(api.base_url), timeout=30) as tab:
        token = link.json()["url"].split("token=")[1]
        assert (await tab.get(f"/api/archives/{archive['id']}/view")).status_code == 422
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        r = await tab.get(f"/api/archives/{archive['id']}/view", params={"token": forged})
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_archive_link"
        # An archive link is not an access token.
        r = await tab.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401
    # Another user sees none of it.
    assert (
        await api.get(f"/api/bookmarks/{bookmark_id}/archives", headers=api_user2.headers)
    ).status_code == 404
    for method, path in (
        ("POST", f"/api/archives/{archive['id']}/link"),
        ("GET", f"/api/archives/{archive['id']}"),
        ("DELETE", f"/api/archives/{archive['id']}"),
    ):
        r = await api.request(method, path, headers=api_user2.headers)
        assert r.status_code == 404, (method, path, r.text)

    # Processed again: a second version, the first kept; one deleted, the other stays.
    r = await api.post(f"/api/bookmarks/{bookmark_id}/refresh", headers=api_user.headers)
    assert r.status_code == 202
    newest, first = await _archived(api, api_user, bookmark_id, count=2)
    assert first["id"] == archive["id"] and newest["created_at"] > first["created_at"]
    r = await api.delete(f"/api/archives/{first['id']}", headers=api_user.headers)
    assert r.status_code == 204
    assert [a["id"] for a in await _archives(api, api_user, bookmark_id)] == [newest["id"]]
    download = await api.get(f"/api/archives/{newest['id']}", headers=api_user.headers)
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    assert "Soft capture comes first" in download.text


async def _import(api, user, data: bytes) -> list[dict]:  # type: ignore[no-untyped-def]
    """Imports a file; the entries once all are saved."""
    r = await api.post(
        "/api/imports", headers=user.headers,
        files={"file": ("fuze-export.zip", data, "application/zip")},
    )  # fmt: skip
    assert r.status_code == 202, r.text
    import_id = r.json()["id"]

    async def parsed():  # type: ignore[no-untyped-def]
        r = await api.get(f"/api/imports/{import_id}", headers=user.headers)
        body = r.json()
        assert body["status"] != "failed", body
        return body if body["parsed"] == body["total"] and body["parsed_at"] else None

    await wait_for(parsed, within=300, interval=0.3)
    r = await api.get(f"/api/imports/{import_id}/entries", headers=user.headers)
    return r.json()["items"]


async def test_the_zip_export_carries_the_archives_and_imports_them_back(
    api, api_user, api_user2, web, stack
):  # type: ignore[no-untyped-def]
    _serve(web)
    r = await api.post(
        "/api/bookmarks", headers=api_user.headers, json={"url": web.url("/arc/page")}
    )
    bookmark_id = r.json()["id"]
    [archive] = await _archived(api, api_user, bookmark_id)
    assert archive["status"] == "ready"

    # The JSON export lists each page's copies.
    r = await api.get("/api/exports?format=json", headers=api_user.headers)
    [record] = r.json()["bookmarks"]
    assert record["archives"] == [
        {"id": archive["id"], "created_at": archive["created_at"],
         "size": archive["size_bytes"], "status": "ready"}
    ]  # fmt: skip

    r = await api.get("/api/exports?format=zip", headers=api_user.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"].endswith('.zip"')
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        assert z.testzip() is None
        name = f"archives/{bookmark_id}/{archive['id']}.html.gz"
        pictures = name.replace(".html.gz", ".images.zip")
        assert z.namelist() == ["fuze-export.json", name, pictures, "manifest.json"]
        export = json.loads(z.read("fuze-export.json"))
        manifest = json.loads(z.read("manifest.json"))
        page = gzip.decompress(z.read(name)).decode()
        assert archive["stored_bytes"] == z.getinfo(name).file_size + z.getinfo(pictures).file_size
        assert 0 < z.getinfo(name).file_size < archive["size_bytes"], "compressed"
    assert export["bookmarks"][0]["archives"][0]["file"] == name
    assert manifest["bookmarks"] == [
        {"bookmark_id": bookmark_id, "archives": [
            {"file": name, "archive_id": archive["id"], "created_at": archive["created_at"],
             "source_url": web.url("/arc/page"), "size": archive["size_bytes"],
             "images": pictures}
        ]}
    ]  # fmt: skip
    assert "Soft capture comes first" in page and "data:image/png;base64," in page

    # Imported by someone with no room for archives: the bookmark, not the copy.
    engine = owner_engine(stack)
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE users SET archive_quota_bytes = 1 WHERE username = :u"),
            {"u": api_user2.username},
        )
    [entry] = await _import(api, api_user2, r.content)
    assert entry["outcome"] == "imported", entry
    restored = [
        a for a in await _archives(api, api_user2, entry["bookmark_id"])
        if a["created_at"] == archive["created_at"]
    ]  # fmt: skip
    assert restored == []

    # With room: the copy comes back with its date, and opens as it did.
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE users SET archive_quota_bytes = NULL WHERE username = :u"),
            {"u": api_user2.username},
        )
        await conn.execute(text("DELETE FROM bookmarks WHERE id = :b"), {"b": entry["bookmark_id"]})
    await engine.dispose()
    [entry] = await _import(api, api_user2, r.content)
    assert entry["outcome"] == "imported", entry
    [back] = [
        a for a in await _archives(api, api_user2, entry["bookmark_id"])
        if a["created_at"] == archive["created_at"]
    ]  # fmt: skip
    assert back["status"] == "ready" and back["size_bytes"] == archive["size_bytes"]
    assert back["stored_bytes"] == archive["stored_bytes"], "with its reader images"
    assert back["id"] != archive["id"]
    download = await api.get(f"/api/archives/{back['id']}", headers=api_user2.headers)
    assert download.status_code == 200 and download.text == page
    # The first owner's copy is theirs alone still.
    r = await api.get(f"/api/archives/{archive['id']}", headers=api_user2.headers)
    assert r.status_code == 404


async def test_a_damaged_zip_is_refused(api, api_user):  # type: ignore[no-untyped-def]
    r = await api.post(
        "/api/imports", headers=api_user.headers,
        files={"file": ("x.zip", b"PK\x03\x04 not really a zip", "application/zip")},
    )  # fmt: skip
    assert r.status_code == 422 and r.json()["error"]["code"] == "import_malformed", r.text


PROSE = (
    "Docking a spacecraft takes patience, careful alignment, and a crew that trusts the "
    "instruments more than their eyes, because the last metres are the hardest ones. "
)
READER_PAGE = f"""<!DOCTYPE html><html><head><title>Docking, with pictures</title></head><body>
<nav><a href="/">Home</a></nav><article><h1>Docking, with pictures</h1>
<p>{PROSE * 3}</p><p><img src="/arc/diagram.png" alt="The diagram"></p>
<p>{PROSE * 3}</p><p><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-src="/arc/lazy.png"
alt="Lazy"></p><p>{PROSE * 3}</p><p><img src="/arc/missing.png" alt="Gone"></p>
<p>{PROSE * 3}</p></article><footer>Copyright</footer></body></html>"""


async def test_the_reader_shows_the_images_of_the_archive(api, api_user, api_user2, web):  # type: ignore[no-untyped-def]
    _serve(web)
    web.route("/arc/reader", READER_PAGE)
    r = await api.post(
        "/api/bookmarks", headers=api_user.headers, json={"url": web.url("/arc/reader")}
    )
    bookmark_id = r.json()["id"]
    [archive] = await _archived(api, api_user, bookmark_id)
    assert archive["status"] == "ready"
    detail = (await api.get(f"/api/bookmarks/{bookmark_id}", headers=api_user.headers)).json()
    assert detail["archive_status"] == "ready"
    listed = (await api.get("/api/bookmarks", headers=api_user.headers)).json()["items"]
    assert [(b["id"], b["archive_status"]) for b in listed] == [(bookmark_id, "ready")]
    sources = re.findall(r'<img[^>]*\ssrc="([^"]*)"', detail["content_html"])
    served = [s for s in sources if s.startswith(f"/api/archives/{archive['id']}/images/")]
    # The diagram and the lazy image (its data-src) come from the archive; the image the
    # archive could not keep keeps its live address.
    assert len(served) == 2, sources
    assert [s for s in sources if s not in served] == [web.url("/arc/missing.png")]
    hits = dict(web.hits)
    async with httpx.AsyncClient(base_url=str(api.base_url), timeout=30) as tab:  # no credentials
        for source in served:
            image = await tab.get(source.replace("&amp;", "&"))
            assert image.status_code == 200, image.text
            assert image.content == PNG and image.headers["content-type"] == "image/png"
            assert image.headers["content-security-policy"].startswith("sandbox;")
            assert image.headers["x-content-type-options"] == "nosniff"
        assert dict(web.hits) == hits, "nothing was fetched from the site"
        path, token = served[0].split("?token=")
        # The images' token opens neither the archive nor another archive's images, and an
        # archive link's token does not open images.
        r = await tab.get(f"/api/archives/{archive['id']}/view", params={"token": token})
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_archive_link"
        link = await api.post(f"/api/archives/{archive['id']}/link", headers=api_user.headers)
        view_token = link.json()["url"].split("token=")[1]
        r = await tab.get(path, params={"token": view_token})
        assert r.status_code == 401
        r = await tab.get(path[:-1] + ("0" if path[-1] != "0" else "1"), params={"token": token})
        assert r.status_code == 404 and r.json()["error"]["code"] == "archive_image_not_found"
        r = await tab.get(path.rsplit("/", 1)[0] + "/not-a-key", params={"token": token})
        assert r.status_code == 422, r.text
    # Another user cannot read the bookmark, so never sees the addresses.
    r = await api.get(f"/api/bookmarks/{bookmark_id}", headers=api_user2.headers)
    assert r.status_code == 404

    # The archive deleted: the reader falls back to the live site, and its images go too.
    await api.delete(f"/api/archives/{archive['id']}", headers=api_user.headers)
    detail = (await api.get(f"/api/bookmarks/{bookmark_id}", headers=api_user.headers)).json()
    assert "/api/archives/" not in detail["content_html"]
    assert detail["archive_status"] is None
    async with httpx.AsyncClient(base_url=str(api.base_url), timeout=30) as tab:
        r = await tab.get(path, params={"token": token})
        assert r.status_code == 404
