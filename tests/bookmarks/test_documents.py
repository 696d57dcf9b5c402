"""PDFs, Markdown and plain text, end to end: saved by link from the local web server or
uploaded, read by a real worker, kept as files, searched and recommended; and every way a file
can fail says why. PDFs are written by tests/fakes/documents.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from app.config import Settings
from app.extraction.documents import NO_TEXT_MESSAGE, archive_dir
from app.extraction.fetch import FetchError, fetch, make_http_client
from app.main import create_app
from tests.conftest import bind_to, close_app, make_settings, register_and_login, wait_for
from tests.fakes.documents import encrypt_pdf, make_pdf
from tests.fakes.web import FakeWeb

MOON_PAGES = [
    "Lunar missions: how Apollo reached the Moon\n"
    "The Apollo guidance computer steered the command module to lunar orbit.\n"
    "Orbital mechanics sets the trans-lunar injection burn and the free-return trajectory.",
    "The lunar module descended to the surface of the Moon with astronauts aboard.\n"
    "Artemis missions plan to return crews to the lunar south pole.",
]


async def _settled(api: httpx.AsyncClient, user, bookmark_id: str) -> dict:  # type: ignore[no-untyped-def]
    async def done():  # type: ignore[no-untyped-def]
        b = (await api.get(f"/api/bookmarks/{bookmark_id}", headers=user.headers)).json()
        return b if b["status"] in ("ready", "failed") else None

    # The first item of a run also waits for the worker to start and load the model.
    return await wait_for(done, within=180, interval=0.2)


async def _upload(api, user, name: str, data: bytes, **form: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    return await api.post(
        "/api/bookmarks/upload", headers=user.headers, files={"file": (name, data)}, data=form
    )


# --- end to end, with the real worker ---------------------------------------------------------


@pytest.mark.usefixtures("pipeline_worker")
async def test_a_linked_pdf_is_read_kept_searched_and_recommended(api, api_user, web, stack):
    pdf = make_pdf(MOON_PAGES, title="Lunar Missions Field Guide", author="Ada Lovelace")
    web.route("/papers/moon.pdf", pdf, content_type="application/pdf")
    r = await api.post(
        "/api/bookmarks", headers=api_user.headers, json={"url": web.url("/papers/moon.pdf")}
    )
    assert r.status_code == 201, r.text
    b = await _settled(api, api_user, r.json()["id"])
    assert b["status"] == "ready", b
    assert (b["title"], b["author"]) == ("Lunar Missions Field Guide", "Ada Lovelace")
    assert b["metadata"]["kind"] == "pdf" and b["metadata"]["pages"] == 2
    assert "Apollo guidance computer" in b["text"] and "south pole" in b["text"]
    assert b["word_count"] > 40

    # The file is kept under the data folder (not in the database) and served to its owner.
    kept = archive_dir(stack.data_dir, await _user_id(api, api_user))
    assert (kept / f"{b['id']}.pdf").read_bytes() == pdf
    f = await api.get(f"/api/bookmarks/{b['id']}/file", headers=api_user.headers)
    assert f.status_code == 200 and f.content == pdf
    assert f.headers["content-type"] == "application/pdf"
    assert f.headers["content-disposition"].startswith("attachment;")
    assert "sandbox" in f.headers["content-security-policy"]

    # Found by its words and by its meaning.
    for mode, q in (("keyword", "trans-lunar injection"), ("semantic", "going to the moon")):
        s = await api.get("/api/search", headers=api_user.headers, params={"q": q, "mode": mode})
        assert s.status_code == 200, s.text
        assert b["id"] in [h["bookmark"]["id"] for h in s.json()["items"]], (mode, s.json())

    # Recommended for a project it helps with.
    p = await api.post(
        "/api/projects",
        headers=api_user.headers,
        json={
            "title": "Lunar mission planning",
            "description": "Plan a crewed Moon landing: Apollo guidance, lunar orbit, the "
            "lunar module's descent and orbital mechanics of the trip.",
        },
    )
    assert p.status_code == 201, p.text
    recs = await api.get(
        f"/api/projects/{p.json()['id']}/recommendations", headers=api_user.headers
    )
    assert recs.status_code == 200, recs.text
    assert b["id"] in [i["bookmark"]["id"] for i in recs.json()["items"]], recs.json()

    # Deleted with its bookmark.
    assert (
        await api.delete(f"/api/bookmarks/{b['id']}", headers=api_user.headers)
    ).status_code == 204
    assert not (kept / f"{b['id']}.pdf").exists()


async def _user_id(api: httpx.AsyncClient, user) -> str:  # type: ignore[no-untyped-def]
    return (await api.get("/api/users/me", headers=user.headers)).json()["id"]


@pytest.mark.usefixtures("pipeline_worker")
async def test_uploaded_pdf_markdown_and_text_become_ready(api, api_user):
    pdf = make_pdf(["Quarterly rocket engine test report\nThe RS-25 engine fired for 500 seconds."])
    r = await _upload(api, api_user, "engine report.pdf", pdf, tags="space, engines", notes="n")
    assert r.status_code == 201, r.text
    up = r.json()
    assert up["url"].startswith("upload://") and up["source"] == "upload"
    assert sorted(up["tags"]) == ["engines", "space"] and up["notes"] == "n"
    # The same file again, under another name, is the same bookmark.
    again = await _upload(api, api_user, "copy.pdf", pdf)
    assert again.status_code == 200 and again.json()["id"] == up["id"]

    md = b"---\nauthor: Grace\n---\nIntro line.\n\n# Docking procedures\n\nSoft capture, then hard docking."
    txt = b"Cosmic ray notes\nParticles from space hit the upper atmosphere."
    md_id = (await _upload(api, api_user, "docking.md", md)).json()["id"]
    txt_id = (await _upload(api, api_user, "rays.txt", txt)).json()["id"]

    b = await _settled(api, api_user, up["id"])
    assert b["status"] == "ready", b
    assert b["title"] == "Quarterly rocket engine test report" and b["metadata"]["pages"] == 1
    m = await _settled(api, api_user, md_id)
    assert m["status"] == "ready", m
    assert (m["title"], m["author"]) == ("Docking procedures", "Grace")
    assert "Soft capture" in m["text"] and m["metadata"]["kind"] == "markdown"
    t = await _settled(api, api_user, txt_id)
    assert t["status"] == "ready" and t["title"] == "Cosmic ray notes"
    f = await api.get(f"/api/bookmarks/{md_id}/file", headers=api_user.headers)
    assert f.status_code == 200 and f.content == md
    assert f.headers["content-type"].startswith("text/markdown")
    assert 'filename="docking.md"' in f.headers["content-disposition"]

    # A refresh reads the kept file again (nothing to fetch).
    r = await api.post(f"/api/bookmarks/{up['id']}/refresh", headers=api_user.headers)
    assert r.status_code == 202
    assert (await _settled(api, api_user, up["id"]))["status"] == "ready"


@pytest.mark.usefixtures("pipeline_worker")
async def test_a_scan_a_broken_and_a_locked_pdf_fail_with_their_reasons(api, api_user, web):
    scan = await _upload(api, api_user, "scan.pdf", make_pdf(["", ""], scanned=True))
    locked = encrypt_pdf(make_pdf(["The launch codes are in this document."]), "hunter2")
    enc = await _upload(api, api_user, "locked.pdf", locked)
    # A truncated PDF from the web (tests/fakes/web.py /doc.pdf), and garbage after %PDF-.
    broken = await api.post(
        "/api/bookmarks", headers=api_user.headers, json={"url": web.url("/doc.pdf")}
    )
    web.route("/junk.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 40, content_type="text/html")
    junk = await api.post(
        "/api/bookmarks", headers=api_user.headers, json={"url": web.url("/junk.pdf")}
    )
    expected = {
        scan.json()["id"]: "pdf_no_text",
        enc.json()["id"]: "pdf_encrypted",
        broken.json()["id"]: "pdf_malformed",
        junk.json()["id"]: "pdf_malformed",
    }
    for bookmark_id, code in expected.items():
        b = await _settled(api, api_user, bookmark_id)
        assert (b["status"], b["error_code"]) == ("failed", code), b
        assert b["error_message"]
    s = await _settled(api, api_user, scan.json()["id"])
    assert s["error_message"] == NO_TEXT_MESSAGE
    # The file is still the user's to download.
    f = await api.get(f"/api/bookmarks/{scan.json()['id']}/file", headers=api_user.headers)
    assert f.status_code == 200 and f.content.startswith(b"%PDF-")
    # The worker is still there: a good file after the bad ones is read.
    good = await _upload(api, api_user, "ok.txt", b"Still working after broken files.")
    assert (await _settled(api, api_user, good.json()["id"]))["status"] == "ready"


async def test_another_users_file_is_not_found(api, api_user, api_user2):
    r = await _upload(api, api_user, "mine.txt", b"Only mine to read, nobody else's.")
    bookmark_id = r.json()["id"]
    f = await api.get(f"/api/bookmarks/{bookmark_id}/file", headers=api_user2.headers)
    assert f.status_code == 404 and f.json()["error"]["code"] == "bookmark_not_found"
    # A web page has no file.
    page = await api.post(
        "/api/bookmarks", headers=api_user.headers, json={"url": "https://example.com/page"}
    )
    f = await api.get(f"/api/bookmarks/{page.json()['id']}/file", headers=api_user.headers)
    assert f.status_code == 404 and f.json()["error"]["code"] == "file_not_found"


# --- upload limits, on an app with a small cap -----------------------------------------------

CAP = 64 * 1024


@pytest.fixture
async def small_cap_app(stack, db: AsyncConnection) -> AsyncIterator[FastAPI]:  # type: ignore[no-untyped-def]
    application = create_app(make_settings(stack, pdf_max_bytes=CAP))
    bind_to(application, db)
    yield application
    await close_app(application)


@pytest.fixture
async def small_cap(small_cap_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=small_cap_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def test_uploads_over_the_cap_or_of_another_kind_are_refused(small_cap):
    user = await register_and_login(small_cap)
    big = make_pdf(["x" * 80] * 10) + b"%" + b"0" * CAP
    r = await _upload(small_cap, user, "big.pdf", big)
    assert r.status_code == 413 and r.json()["error"]["code"] == "file_too_large"
    assert r.json()["error"]["details"]["limit_bytes"] == CAP
    # A body larger than the cap and the multipart envelope is cut off before it is read.
    r = await _upload(small_cap, user, "huge.pdf", b"%PDF-" + b"0" * (CAP + 2 * 1024 * 1024))
    assert r.status_code == 413
    r = await _upload(small_cap, user, "photo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_file"
    r = await _upload(small_cap, user, "latin.txt", "caf\xe9".encode("latin-1"))
    assert r.status_code == 415
    r = await _upload(small_cap, user, "empty.md", b"")
    assert r.status_code == 422 and r.json()["error"]["code"] == "empty_file"
    r = await small_cap.post("/api/bookmarks/upload", headers=user.headers)
    assert r.status_code == 422
    listed = (await small_cap.get("/api/bookmarks", headers=user.headers)).json()["items"]
    assert listed == []


# --- the fetcher -----------------------------------------------------------------------------


def _fetch_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "database_url": "postgresql://x@127.0.0.1/x",
        "allow_private_networks": True,
        "fetch_timeout_seconds": 5.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


async def test_the_fetcher_takes_pdfs_whatever_their_type_and_markdown(web: FakeWeb) -> None:
    settings = _fetch_settings()
    pdf = make_pdf(["Sniffed by its first bytes."])
    web.route("/as-html.pdf", pdf, content_type="text/html")
    web.route("/as-octets", pdf, content_type="application/octet-stream")
    web.route("/as-download", pdf, content_type="application/x-download")
    web.route("/readme.md", "# Title\n\nSome *markdown*.", content_type="text/markdown")
    async with make_http_client(settings) as client:
        for path in ("/as-html.pdf", "/as-octets", "/as-download"):
            result = await fetch(client, web.url(path), settings)
            assert (result.document_kind, result.document) == ("pdf", pdf), path
        md = await fetch(client, web.url("/readme.md"), settings)
        assert md.document_kind == "markdown" and md.document == b"# Title\n\nSome *markdown*."
        # Another file type is still refused, saying what it was.
        web.route("/photo", b"\x89PNG\r\n\x1a\n" + b"\x00" * 2000, content_type="image/png")
        with pytest.raises(FetchError) as info:
            await fetch(client, web.url("/photo"), settings)
        assert info.value.code == "not_html" and "image/png" in info.value.message


async def test_a_pdf_has_its_own_size_cap(web: FakeWeb) -> None:
    # PDFs may be larger than pages (FUZE_PDF_MAX_BYTES), and no larger.
    settings = _fetch_settings(fetch_max_bytes=20_000, pdf_max_bytes=100_000)
    web.route("/mid.pdf", make_pdf(["y" * 60] * 10) + b"%" + b"0" * 40_000)
    web.route("/mid.html", "<p>" + "z" * 40_000 + "</p>")
    web.route("/large.pdf", b"%PDF-1.4\n" + b"0" * 200_000, content_type="application/pdf")
    async with make_http_client(settings) as client:
        assert (await fetch(client, web.url("/mid.pdf"), settings)).document_kind == "pdf"
        for path in ("/mid.html", "/large.pdf"):
            with pytest.raises(FetchError) as info:
                await fetch(client, web.url(path), settings)
            assert info.value.code == "too_large", path
