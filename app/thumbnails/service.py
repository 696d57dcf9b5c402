"""What a bookmark's answer says of its card picture, and the address that serves it.

An `<img>` cannot send the Authorization header, so the address carries a token: an HMAC of
the user's id and an expiry, made with the server's key, the same for a whole day (valid one
to two days) so the browser keeps using what it cached. It grants seeing this user's card
pictures and nothing else. The address also carries the picture's hash (`v`): a new picture
is a new address, so the picture itself can be cached for a year.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import time
import uuid
from typing import Any

from app.config import Settings
from app.errors import Unauthorized
from app.thumbnails.models import READY

DAY = 86_400


def _signature(settings: Settings, user_id: uuid.UUID, expires: int) -> str:
    return _signed(settings.resolved_secret_key(), user_id, expires)


@functools.lru_cache(maxsize=4096)
def _signed(secret: str, user_id: uuid.UUID, expires: int) -> str:
    """Kept: a user's token is the same all day, and every page of the library and every
    bookmark opened carries it (two SHA-256 passes: 4 % of one bookmark's CPU in the API,
    sampled with py-spy at c8)."""
    key = hashlib.sha256(b"fuze-thumbnail:" + secret.encode()).digest()
    mac = hmac.new(key, f"{user_id}.{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode()


def token(settings: Settings, user_id: uuid.UUID, now: float | None = None) -> str:
    expires = (int(now if now is not None else time.time()) // DAY + 2) * DAY
    return f"{user_id.hex}.{expires}.{_signature(settings, user_id, expires)}"


def reader_of(settings: Settings, value: str) -> uuid.UUID:
    """The user a picture address's token was made for; Unauthorized when it is not valid."""
    try:
        user_hex, expires_text, signature = value.split(".")
        user_id, expires = uuid.UUID(hex=user_hex), int(expires_text)
        good = hmac.compare_digest(signature, _signature(settings, user_id, expires))
    except ValueError:
        good = False
    if not good or expires < time.time():
        raise Unauthorized(
            "This picture's address has expired or is not valid; load the bookmark again.",
            code="invalid_thumbnail_link",
        )
    return user_id


def url(bookmark_id: uuid.UUID, etag: str, signed: str) -> str:
    return f"/api/bookmarks/{bookmark_id}/thumbnail?v={etag}&token={signed}"


def fields(
    state: tuple[str, str | None] | None, bookmark_id: uuid.UUID, signed: str
) -> dict[str, Any]:
    """The answer's `thumbnail_status` and `thumbnail_url` for one bookmark."""
    if state is None:
        return {"thumbnail_status": None, "thumbnail_url": None}
    status, etag = state
    picture = url(bookmark_id, etag, signed) if status == READY and etag else None
    return {"thumbnail_status": status, "thumbnail_url": picture}
