"""Page cursors: opaque to clients, a JSON value in URL-safe base64 (no padding) to us.

A keyset cursor is the sort value of a page's last row and that row's id, so the next page
starts after it however rows were added or removed meanwhile; a datetime travels as
`{"dt": iso}` so it comes back as a datetime, not a string."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any

from app.errors import Unprocessable


def encode(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def decode(cursor: str) -> Any:
    """The value a cursor carries; a clear 422 for anything that is not one of ours."""
    try:
        return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError) as exc:
        raise invalid() from exc


def invalid() -> Unprocessable:
    return Unprocessable(
        "This cursor is not valid; start from the first page.", code="invalid_cursor"
    )


def encode_keyset(value: Any, row_id: uuid.UUID) -> str:
    if isinstance(value, datetime):
        value = {"dt": value.isoformat()}
    return encode([value, str(row_id)])


def decode_keyset(cursor: str) -> tuple[Any, uuid.UUID]:
    """(sort value, row id) of the row a page ended on."""
    try:
        value, row_id = decode(cursor)
        if isinstance(value, dict):
            value = datetime.fromisoformat(value["dt"])
        return value, uuid.UUID(row_id)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise invalid() from exc


def encode_created(created_at: datetime, row_id: uuid.UUID) -> str:
    """A cursor after a row of a list newest first, by (created_at, id)."""
    return encode([created_at.isoformat(), str(row_id)])


def decode_created(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        created, row_id = decode(cursor)
        return datetime.fromisoformat(created), uuid.UUID(row_id)
    except (ValueError, TypeError, AttributeError) as exc:
        raise invalid() from exc


def decode_offset(cursor: str, maximum: int | None = None) -> int:
    """A cursor that is a position: a whole number from 0 (to `maximum`)."""
    value = decode(cursor)
    if type(value) is not int or value < 0 or (maximum is not None and value > maximum):
        raise invalid()
    return value
