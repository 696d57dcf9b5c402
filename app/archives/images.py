"""The reader view's images, from the archive rather than the live site.

The archive job keeps each image it inlined a second time, addressable by the URL the page
gave it (app/archives/build.py): `<archive id>.images.zip` beside the archive, one member per
distinct image and `index.json` mapping a key (the SHA-256 of the address) to the member and
its media type. When a bookmark's reader HTML is served, each `<img src>` the newest ready
archive holds is rewritten to `/api/archives/{id}/images/{key}?token=...`: the token is
signed like an archive link (audience `fuze-archive`) for that archive and user and for
images only, and is the same for an hour so the browser can cache the images. The images are
served with the archive's sandboxing headers (app/archives/router.py). An image the archive
lacks keeps its live address.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import io
import json
import re
import time
import uuid
import zipfile
from pathlib import Path

from jose import jwt

from app.archives import store
from app.config import Settings

INDEX = "index.json"
AUDIENCE = "fuze-archive"  # the archive links' (app/archives/router.py)
USE = "images"
HOUR = 3600
_IMG_SRC = re.compile(r'(<img\b[^>]*?\ssrc=")([^"]*)(")', re.IGNORECASE)


def key_of(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:40]


def images_file(
    data_dir: Path, user_id: uuid.UUID | str, bookmark_id: uuid.UUID | str, archive_id: uuid.UUID
) -> Path:
    return store.pages_dir(data_dir, user_id, bookmark_id) / f"{archive_id}.images.zip"


def write(path: Path, images: dict[str, tuple[str, bytes]]) -> None:
    """One member per distinct image (several addresses may name the same one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    members: dict[int, str] = {}
    index: dict[str, list[str]] = {}
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as out:
        for url, (media_type, body) in images.items():
            member = members.get(id(body))
            if member is None:
                member = members[id(body)] = f"{len(members)}"
                out.writestr(member, body)
            index[key_of(url)] = [member, media_type]
        out.writestr(INDEX, json.dumps(index))
    tmp.replace(path)


def readable(body: bytes) -> bool:
    """Whether bytes are an images file this module wrote (an import's, before keeping it)."""
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as images:
            index = json.loads(images.read(INDEX))
            names = set(images.namelist())
        return isinstance(index, dict) and all(
            isinstance(v, list) and len(v) == 2 and v[0] in names for v in index.values()
        )
    except (KeyError, zipfile.BadZipFile, ValueError, TypeError):
        return False


def read_index(path: Path) -> dict[str, list[str]]:
    try:
        with zipfile.ZipFile(path) as images:
            return json.loads(images.read(INDEX))  # type: ignore[no-any-return]
    except (FileNotFoundError, KeyError, zipfile.BadZipFile, ValueError):
        return {}


def read_image(path: Path, key: str) -> tuple[str, bytes] | None:
    try:
        with zipfile.ZipFile(path) as images:
            found = json.loads(images.read(INDEX)).get(key)
            if not found:
                return None
            member, media_type = found
            return media_type, images.read(member)
    except (FileNotFoundError, KeyError, zipfile.BadZipFile, ValueError):
        return None


def token(settings: Settings, user_id: uuid.UUID, archive_id: uuid.UUID) -> str:
    # The same token for an hour (valid one to two), so the image addresses stay the same.
    expires = (int(time.time()) // HOUR + 2) * HOUR
    claims = {"sub": str(user_id), "arc": str(archive_id), "aud": AUDIENCE, "use": USE,
              "exp": expires}  # fmt: skip
    return str(jwt.encode(claims, settings.resolved_secret_key(), algorithm=settings.jwt_algorithm))


async def from_archive(
    settings: Settings,
    user_id: uuid.UUID,
    bookmark_id: uuid.UUID,
    archive_id: uuid.UUID | None,
    content_html: str | None,
) -> str | None:
    """The reader HTML with the images that archive (the newest ready one) holds served
    from it."""
    if not content_html or "<img" not in content_html or archive_id is None:
        return content_html
    path = images_file(settings.data_dir, user_id, bookmark_id, archive_id)
    index = await asyncio.to_thread(read_index, path)
    if not index:
        return content_html
    signed = token(settings, user_id, archive_id)

    def swap(m: re.Match[str]) -> str:
        key = key_of(html.unescape(m[2]))
        if key not in index:
            return m[0]
        return f"{m[1]}/api/archives/{archive_id}/images/{key}?token={signed}{m[3]}"

    return _IMG_SRC.sub(swap, content_html)
