"""A bookmark's card picture over HTTP, at the address its answer gives (`thumbnail_url`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from sqlalchemy import select

from app.db import bind_user
from app.deps import SessionDep, SettingsDep
from app.errors import NotFound, Unauthorized, responses
from app.thumbnails import service
from app.thumbnails.models import READY, Thumbnail

router = APIRouter(tags=["thumbnails"])

YEAR = 31_536_000
HEADERS = {
    "Cache-Control": f"private, max-age={YEAR}, immutable",
    "X-Content-Type-Options": "nosniff",
    # An image, never a page of this origin, whatever a browser makes of it.
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "Referrer-Policy": "no-referrer",
}


@router.get(
    "/bookmarks/{bookmark_id}/thumbnail",
    response_class=Response,
    summary="A bookmark's card picture (a small WebP), at the address its answer gives",
    description=(
        "Open `thumbnail_url` from GET /api/bookmarks or GET /api/bookmarks/{id}: it carries a "
        "token for your pictures (so an `<img>` can load it without the Authorization header; "
        "valid one to two days) and the picture's version `v`, so the answer may be cached for "
        "a year. `If-None-Match` with its ETag answers 304."
    ),
    responses={
        200: {"content": {"image/webp": {"schema": {"type": "string", "format": "binary"}}}},
        304: {"description": "Not modified."},
        **responses(NotFound, Unauthorized),
    },
)
async def get_thumbnail(
    bookmark_id: uuid.UUID,
    token: Annotated[str, Query(max_length=200)],
    session: SessionDep,
    settings: SettingsDep,
    v: Annotated[str | None, Query(max_length=32, description="The picture's version.")] = None,
    if_none_match: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    user_id = service.reader_of(settings, token)
    await bind_user(session, user_id)
    row = (
        await session.execute(
            select(Thumbnail.status, Thumbnail.etag, Thumbnail.data).where(
                Thumbnail.bookmark_id == bookmark_id, Thumbnail.user_id == user_id
            )
        )
    ).first()
    if row is None or row.status != READY or row.data is None:
        raise NotFound("This bookmark has no picture.", code="thumbnail_not_found")
    etag = f'"{row.etag}"'
    headers = {**HEADERS, "ETag": etag}
    if if_none_match and etag in (t.strip() for t in if_none_match.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(row.data, media_type="image/webp", headers=headers)
