"""Card pictures end to end: a real API process and arq worker make a small WebP of a saved
page's image served by the local web server, serve it at a signed, versioned address with a
year's cache, refuse what is not a picture (too large, a decompression bomb, not an image, a
metadata address) with a reason, and show it to its owner alone."""

from __future__ import annotations

import io
import struct
import time
import uuid
import zlib

import pytest
from PIL import Image
from sqlalchemy import text

from app.config import Settings
from app.errors import Unauthorized
from app.thumbnails import service as thumbnails_service
from tests.conftest import owner_engine, wait_for

pytestmark = pytest.mark.usefixtures("pipeline_worker")

BODY = "<p>" + "Soft capture comes first, then the hooks close for a hard dock. " * 20 + "</p>"


def _page(title: str, head: str = "", body: str = "") -> str:
    return (
        f"<!DOCTYPE html><html><head><title>{title}</title>{head}</head>"
        f"<body><article><h1>{title}</h1>{body}{BODY}</article></body></html>"
    )


def _og(path: str) -> str:
    return f'<meta property="og:image" content="{path}">'


def _image(fmt: str, size: tuple[int, int] = (1200, 630)) -> bytes:
    picture = Image.new("RGB", size, (30, 120, 200))
    picture.paste((240, 200, 40), (size[0] // 2, 0, size[0], size[1]))  # blue | yellow
    out = io.BytesIO()
    picture.save(out, fmt)
    return out.getvalue()


def _bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    rows = zlib.compress(b"\x00" * 1000)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


async def _save(api, user, url: str) -> str:  # type: ignore[no-untyped-def]
    r = await api.post("/api/bookmarks", headers=user.headers, json={"url": url})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _pictured(api, user, bookmark_id: str, run_over: float = 240) -> dict:  # type: ignore[no-untyped-def]
    """The bookmark once its card picture is decided (made, none or failed)."""

    async def decided():  # type: ignore[no-untyped-def]
        r = await api.get(f"/api/bookmarks/{bookmark_id}", headers=user.headers)
        assert r.status_code == 200, r.text
        return r.json() if r.json()["thumbnail_status"] else None

    return await wait_for(decided, within=run_over, interval=0.3)  # type: ignore[no-any-return]


async def _error(stack, bookmark_id: str) -> str:  # type: ignore[no-untyped-def]
    """Why the picture failed, as kept (the answer says only that it did)."""
    engine = owner_engine(stack)
    try:
        async with engine.begin() as conn:
            return str(
                await conn.scalar(
                    text("SELECT error FROM thumbnails WHERE bookmark_id = :id"),
                    {"id": bookmark_id},
                )
            )
    finally:
        await engine.dispose()


async def test_a_pages_og_image_becomes_a_small_cached_webp(api, api_user, api_user2, web):
    web.route("/thumb/og.png", _image("PNG"), content_type="image/png")
    web.route("/thumb/og", _page("Docking notes", _og("/thumb/og.png")))
    bookmark_id = await _save(api, api_user, web.url("/thumb/og"))
    got = await _pictured(api, api_user, bookmark_id)
    assert got["thumbnail_status"] == "ready", got
    assert got["image_url"] == web.url("/thumb/og.png")
    url = got["thumbnail_url"]
    assert url.startswith(f"/api/bookmarks/{bookmark_id}/thumbnail?v="), url

    r = await api.get(url)  # no Authorization header: the address carries its token
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/webp"
    assert r.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.content[:4] == b"RIFF" and r.content[8:12] == b"WEBP"
    assert len(r.content) < 40_000, len(r.content)
    picture = Image.open(io.BytesIO(r.content))
    assert picture.size == (480, 270)
    # The picture's blue and yellow halves survived.
    left, right = (picture.convert("RGB").getpixel((x, 135)) for x in (20, 460))
    assert left[2] > 150 > left[0] and right[0] > 150 > right[2], (left, right)

    etag = r.headers["etag"]
    again = await api.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert "v=" + etag.strip('"') + "&" in url  # the version in the address is the picture's hash

    # The list carries the same picture.
    listed = await api.get("/api/bookmarks", headers=api_user.headers)
    [item] = [b for b in listed.json()["items"] if b["id"] == bookmark_id]
    assert item["thumbnail_status"] == "ready" and item["thumbnail_url"] == url

    # Another user's address for this bookmark: not found, as an id that does not exist.
    theirs = await _save(api, api_user2, web.url("/thumb/og"))
    their_got = await _pictured(api, api_user2, theirs)
    their_token = their_got["thumbnail_url"].split("token=")[1]
    stolen = await api.get(f"/api/bookmarks/{bookmark_id}/thumbnail?token={their_token}")
    assert stolen.status_code == 404, stolen.text
    assert stolen.json()["error"]["code"] == "thumbnail_not_found"
    # A forged or damaged token: refused before anything is looked up.
    forged = url.rsplit(".", 1)[0] + ".AAAAAAAAAAAAAAAAAAAAAAAA"
    r = await api.get(forged)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_thumbnail_link"


async def test_without_an_og_image_the_contents_first_large_image_is_used(api, api_user, web):
    web.route("/thumb/icon.png", _image("PNG", (32, 32)), content_type="image/png")
    web.route("/thumb/photo.jpg", _image("JPEG", (1600, 1200)), content_type="image/jpeg")
    body = (
        '<p><img src="/thumb/icon.png" width="32" height="32" alt="">'
        '<img src="data:image/png;base64,iVBORw0KGgo=" alt="">'
        '<img src="/thumb/logo-wide.png" alt="logo"></p>'
        '<p><img src="/thumb/photo.jpg" alt="The dock"></p>'
    )
    web.route("/thumb/content", _page("Berthing", body=body))
    bookmark_id = await _save(api, api_user, web.url("/thumb/content"))
    got = await _pictured(api, api_user, bookmark_id)
    assert got["image_url"] == web.url("/thumb/photo.jpg"), got["image_url"]
    assert got["thumbnail_status"] == "ready", got
    r = await api.get(got["thumbnail_url"])
    assert r.status_code == 200
    assert Image.open(io.BytesIO(r.content)).size == (480, 270)


async def test_a_page_without_an_image_says_none(api, api_user, web):
    web.route("/thumb/plain", _page("Plain words"))
    bookmark_id = await _save(api, api_user, web.url("/thumb/plain"))
    got = await _pictured(api, api_user, bookmark_id)
    assert got["image_url"] is None
    assert (got["thumbnail_status"], got["thumbnail_url"]) == ("none", None)


@pytest.mark.parametrize(
    ("name", "route", "reason"),
    [
        ("bomb", ("/thumb/bomb.png", _bomb(30_000, 30_000), "image/png"), "pixels"),
        ("html", ("/thumb/not.png", b"<!DOCTYPE html><p>hello</p>", "text/html"), "not an image"),
        ("garbage", ("/thumb/garbage.png", b"\x00GIF89 not really" * 50, "image/png"), "image"),
        (
            "large",
            ("/thumb/large.png", b"\x89PNG" + b"\x00" * (9 * 1024 * 1024), "image/png"),
            "8 MB",
        ),
    ],
)
async def test_what_is_not_a_picture_is_refused_with_a_reason(
    api, api_user, web, stack, name, route, reason
):  # type: ignore[no-untyped-def]
    path, body, content_type = route
    web.route(path, body, content_type=content_type)
    web.route(f"/thumb/refused-{name}", _page(f"Refused {name}", _og(path)))
    bookmark_id = await _save(api, api_user, web.url(f"/thumb/refused-{name}"))
    got = await _pictured(api, api_user, bookmark_id)
    assert got["thumbnail_status"] == "failed", got
    assert got["thumbnail_url"] is None
    assert reason in await _error(stack, bookmark_id)
    # The page itself is fine.
    assert got["status"] in ("embedding", "ready")


async def test_a_metadata_address_is_never_fetched(api, api_user, web, stack):
    web.route(
        "/thumb/metadata", _page("Sneaky", _og("http://169.254.169.254/latest/meta-data/x.png"))
    )
    bookmark_id = await _save(api, api_user, web.url("/thumb/metadata"))
    got = await _pictured(api, api_user, bookmark_id)
    assert got["thumbnail_status"] == "failed", got
    assert "metadata" in await _error(stack, bookmark_id)


async def test_the_sweeper_makes_missing_pictures_and_a_refresh_keeps_them(
    api, api_user, web, stack
):
    web.route("/thumb/later.png", _image("PNG"), content_type="image/png")
    web.route("/thumb/later", _page("Made later", _og("/thumb/later.png")))
    bookmark_id = await _save(api, api_user, web.url("/thumb/later"))
    first = await _pictured(api, api_user, bookmark_id)
    assert first["thumbnail_status"] == "ready"
    fetched = len(web.requests_for("/thumb/later.png"))

    # A bookmark saved before pictures existed has no row: the sweeper makes its picture.
    engine = owner_engine(stack)
    async with engine.begin() as conn:
        await conn.execute(
            text("DELETE FROM thumbnails WHERE bookmark_id = :id"), {"id": bookmark_id}
        )
    await engine.dispose()
    gone = await api.get(f"/api/bookmarks/{bookmark_id}", headers=api_user.headers)
    assert gone.json()["thumbnail_status"] is None
    assert (await api.get(first["thumbnail_url"])).status_code == 404
    again = await _pictured(api, api_user, bookmark_id)
    assert again["thumbnail_status"] == "ready"
    assert again["thumbnail_url"] == first["thumbnail_url"]  # the same picture, same address

    # Processed again with the same image: the picture stands, and is not fetched again.
    fetched = len(web.requests_for("/thumb/later.png"))
    r = await api.post(f"/api/bookmarks/{bookmark_id}/refresh", headers=api_user.headers)
    assert r.status_code == 202

    async def ready_again():  # type: ignore[no-untyped-def]
        r = await api.get(f"/api/bookmarks/{bookmark_id}", headers=api_user.headers)
        return r.json() if r.json()["status"] == "ready" else None

    after = await wait_for(ready_again, within=240, interval=0.3)
    assert after["thumbnail_url"] == first["thumbnail_url"]
    assert len(web.requests_for("/thumb/later.png")) == fetched


async def test_a_deleted_bookmark_takes_its_picture_with_it(api, api_user, web):
    web.route("/thumb/bye.png", _image("PNG"), content_type="image/png")
    web.route("/thumb/bye", _page("Goodbye", _og("/thumb/bye.png")))
    bookmark_id = await _save(api, api_user, web.url("/thumb/bye"))
    got = await _pictured(api, api_user, bookmark_id)
    assert (await api.get(got["thumbnail_url"])).status_code == 200
    r = await api.delete(f"/api/bookmarks/{bookmark_id}", headers=api_user.headers)
    assert r.status_code == 204
    assert (await api.get(got["thumbnail_url"])).status_code == 404


def test_a_picture_token_is_kept_for_the_day_but_only_under_its_own_key(tmp_path):
    ours = Settings(_env_file=None, data_dir=tmp_path, secret_key="k" * 48)  # type: ignore[call-arg]
    other = Settings(_env_file=None, data_dir=tmp_path, secret_key="j" * 48)  # type: ignore[call-arg]
    user = uuid.uuid4()
    now = time.time()
    signed = thumbnails_service.token(ours, user, now)
    assert thumbnails_service.token(ours, user, now + 60) == signed  # the same all day
    assert thumbnails_service.reader_of(ours, signed) == user
    assert thumbnails_service.token(other, user, now) != signed
    with pytest.raises(Unauthorized):
        thumbnails_service.reader_of(other, signed)
    tomorrow = thumbnails_service.token(ours, user, now + 2 * thumbnails_service.DAY)
    assert tomorrow != signed and thumbnails_service.reader_of(ours, tomorrow) == user
