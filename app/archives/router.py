"""Page archives over HTTP: the list of a bookmark's copies, a short-lived link that opens one
in a browser tab, the copy itself, and deleting one.

A copy is served as `text/html` with `Content-Security-Policy: sandbox` (an opaque origin: no
script runs, and nothing in it can read Fuze's origin, its storage or its tokens) plus the
policy the file carries itself (nothing loads from the network), and `nosniff`. A tab cannot
send the Authorization header, so the web app asks for a link first: a token signed with the
server's key for this one archive and user, valid for two minutes, in the query string (it
grants reading this copy only, and is useless as an access token).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from jose import JWTError, jwt
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.archives import images, store
from app.archives.build import ARCHIVE_CSP
from app.archives.models import PageArchive
from app.bookmarks import service as bookmarks_service
from app.config import Settings
from app.db import bind_user
from app.deps import CurrentUser, SessionDep, SettingsDep
from app.errors import NotFound, Unauthorized, responses

router = APIRouter(tags=["archives"])

LINK_SECONDS = 120
AUDIENCE = "fuze-archive"
HEADERS = {
    "Content-Security-Policy": f"sandbox; {ARCHIVE_CSP}",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "private, max-age=0, no-store",
}


class ArchiveFailure(BaseModel):
    url: str
    reason: str


class ArchiveOut(BaseModel):
    id: uuid.UUID
    bookmark_id: uuid.UUID
    created_at: str
    status: str = Field(
        description="`ready`; `failed` (see `error`); or `skipped`: your archives reached "
        "their storage limit."
    )
    source_url: str = Field(description="The address the page was archived from.")
    size_bytes: int = Field(description="The archive's HTML, with everything inlined.")
    stored_bytes: int = Field(
        description="What it takes on the server: the compressed copy and the images the "
        "reader view shows from it."
    )
    assets: int = Field(description="Stylesheets, images and fonts inlined into it.")
    failures: list[ArchiveFailure] = Field(
        description="What the page used that could not be kept, and why."
    )
    error: str | None


class ArchiveList(BaseModel):
    items: list[ArchiveOut]


class ArchiveLink(BaseModel):
    url: str = Field(description="Opens the archive in a browser tab; valid for `expires_in` s.")
    expires_in: int


def _out(row: PageArchive) -> ArchiveOut:
    return ArchiveOut(
        id=row.id, bookmark_id=row.bookmark_id, created_at=row.created_at.isoformat(),
        status=row.status, source_url=row.source_url, size_bytes=row.size_bytes,
        stored_bytes=row.stored_bytes, assets=row.assets,
        failures=[ArchiveFailure(**f) for f in row.failures], error=row.error,
    )  # fmt: skip


async def _owned(session: AsyncSession, user_id: uuid.UUID, archive_id: uuid.UUID) -> PageArchive:
    row = await session.scalar(
        select(PageArchive).where(PageArchive.id == archive_id, PageArchive.user_id == user_id)
    )
    if row is None:
        raise NotFound("There is no such archive.", code="archive_not_found")
    return row


@router.get(
    "/bookmarks/{bookmark_id}/archives",
    response_model=ArchiveList,
    summary="The archived copies of a saved page, newest first",
    responses=responses(NotFound),
)
async def list_archives(
    bookmark_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> ArchiveList:
    await bookmarks_service.get_owned(session, user, bookmark_id)
    rows = await session.scalars(
        select(PageArchive)
        .where(PageArchive.bookmark_id == bookmark_id, PageArchive.user_id == user.id)
        .order_by(PageArchive.created_at.desc())
    )
    return ArchiveList(items=[_out(r) for r in rows])


@router.post(
    "/archives/{archive_id}/link",
    response_model=ArchiveLink,
    summary="A short-lived link that opens an archive in a browser tab",
    responses=responses(NotFound),
)
async def archive_link(
    archive_id: uuid.UUID, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> ArchiveLink:
    await _owned(session, user.id, archive_id)
    claims = {
        "sub": str(user.id), "arc": str(archive_id), "aud": AUDIENCE,
        "exp": int(time.time()) + LINK_SECONDS,
    }  # fmt: skip
    token = jwt.encode(claims, settings.resolved_secret_key(), algorithm=settings.jwt_algorithm)
    return ArchiveLink(
        url=f"/api/archives/{archive_id}/view?token={token}", expires_in=LINK_SECONDS
    )


def _reader_of(
    settings: Settings, token: str, archive_id: uuid.UUID, use: str | None = None
) -> uuid.UUID:
    """The user a link's token was signed for; `use`: what it grants (None: the whole copy;
    `images`: the reader view's images only, app/archives/images.py)."""
    try:
        claims = jwt.decode(
            token, settings.resolved_secret_key(), algorithms=[settings.jwt_algorithm],
            audience=AUDIENCE,
        )  # fmt: skip
        if claims.get("arc") != str(archive_id):
            raise JWTError("another archive")
        if claims.get("use") != use:
            raise JWTError("not for this")
        return uuid.UUID(claims["sub"])
    except (JWTError, KeyError, ValueError) as exc:
        raise Unauthorized(
            "This archive link has expired or is not valid; open the archive again from Fuze.",
            code="invalid_archive_link",
        ) from exc


async def _serve(settings: Settings, row: PageArchive, disposition: str) -> Response:
    if row.status != "ready":
        raise NotFound("This archive has no copy (it failed or was skipped).", code="archive_empty")
    path = store.archive_file(settings.data_dir, row.user_id, row.bookmark_id, row.id)
    try:
        body = await asyncio.to_thread(store.read, path)
    except FileNotFoundError:
        raise NotFound(
            "This archive's file is missing on the server.", code="archive_missing"
        ) from None
    name = f"fuze-archive-{row.created_at:%Y%m%d-%H%M%S}.html"
    return Response(
        body, media_type="text/html; charset=utf-8",
        headers={**HEADERS, "Content-Disposition": f'{disposition}; filename="{name}"'},
    )  # fmt: skip


@router.get(
    "/archives/{archive_id}/view",
    response_class=Response,
    summary="An archive, for a browser tab (with a link's token, no Authorization header)",
    responses={200: {"content": {"text/html": {}}}, **responses(NotFound, Unauthorized)},
)
async def view_archive(
    archive_id: uuid.UUID,
    token: Annotated[str, Query(max_length=2000)],
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    user_id = _reader_of(settings, token, archive_id)
    await bind_user(session, user_id)
    return await _serve(settings, await _owned(session, user_id, archive_id), "inline")


@router.get(
    "/archives/{archive_id}/images/{key}",
    response_class=Response,
    summary="An image of an archive, for the reader view (with the token its address carries)",
    description=(
        "The reader HTML of GET /api/bookmarks/{id} points its images here when the page's "
        "newest archive holds them; the address carries a token for that archive's images."
    ),
    responses={200: {"content": {"image/*": {}}}, **responses(NotFound, Unauthorized)},
)
async def archive_image(
    archive_id: uuid.UUID,
    key: Annotated[str, Path(pattern=r"^[0-9a-f]{40}$")],
    token: Annotated[str, Query(max_length=2000)],
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    user_id = _reader_of(settings, token, archive_id, images.USE)
    await bind_user(session, user_id)
    row = await _owned(session, user_id, archive_id)
    path = images.images_file(settings.data_dir, row.user_id, row.bookmark_id, row.id)
    found = await asyncio.to_thread(images.read_image, path, key)
    if found is None or not found[0].startswith("image/"):
        raise NotFound("This archive has no such image.", code="archive_image_not_found")
    media_type, body = found
    return Response(
        body, media_type=media_type,
        headers={**HEADERS, "Cache-Control": f"private, max-age={images.HOUR}, immutable"},
    )  # fmt: skip


@router.get(
    "/archives/{archive_id}",
    response_class=Response,
    summary="An archive's HTML file, as a download",
    responses={200: {"content": {"text/html": {}}}, **responses(NotFound)},
)
async def download_archive(
    archive_id: uuid.UUID, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> Response:
    return await _serve(settings, await _owned(session, user.id, archive_id), "attachment")


@router.delete(
    "/archives/{archive_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an archived copy",
    responses=responses(NotFound),
)
async def delete_archive(
    archive_id: uuid.UUID, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> Response:
    row = await _owned(session, user.id, archive_id)
    path = store.archive_file(settings.data_dir, row.user_id, row.bookmark_id, row.id)
    pictures = images.images_file(settings.data_dir, row.user_id, row.bookmark_id, row.id)
    await session.delete(row)
    await session.flush()
    await asyncio.to_thread(path.unlink, True)
    await asyncio.to_thread(pictures.unlink, True)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
