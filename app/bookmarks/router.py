from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi.responses import JSONResponse

from app.bookmarks import service
from app.bookmarks.models import Bookmark
from app.bookmarks.schemas import (
    BookmarkCreate,
    BookmarkDetail,
    BookmarkOut,
    BookmarkPage,
    BookmarkUpdate,
    Sort,
    Status,
)
from app.deps import CurrentUser, SessionDep, SettingsDep
from app.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unprocessable,
    responses,
)

router = APIRouter(prefix="/bookmarks", tags=["bookmarks"], responses=responses(Unauthorized))


async def valid_bookmark(
    bookmark_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> Bookmark:
    return await service.get_owned(session, user, bookmark_id)


ValidBookmark = Annotated[Bookmark, Depends(valid_bookmark)]


async def _detail(session: SessionDep, user: CurrentUser, bookmark_id: uuid.UUID) -> BookmarkDetail:
    bookmark = await service.get_owned(session, user, bookmark_id, detail=True)
    tags = await service.tags_of(session, [bookmark.id])
    return BookmarkDetail(**service.to_out(bookmark, tags[bookmark.id], detail=True))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=BookmarkOut,
    summary="Save a page (201 new, pending; 200 when this URL is already saved)",
    responses={
        200: {"model": BookmarkOut, "description": "Already saved: the existing bookmark."},
        **responses(Forbidden, Unprocessable, PayloadTooLarge),
    },
)
async def create_bookmark(
    data: BookmarkCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> JSONResponse:
    bookmark, created = await service.create(session, settings, user, data)
    tags = await service.tags_of(session, [bookmark.id])
    body = BookmarkOut(**service.to_out(bookmark, tags[bookmark.id]))
    return JSONResponse(body.model_dump(mode="json"), status_code=201 if created else 200)


@router.get("", response_model=BookmarkPage, summary="Your saved items, newest first by default")
async def list_bookmarks(
    user: CurrentUser,
    session: SessionDep,
    q: Annotated[
        str | None,
        Query(max_length=500, description="Words in the title, URL, description or notes."),
    ] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    url: Annotated[
        str | None,
        Query(
            max_length=4096,
            description="Only the bookmark of this address, compared after normalisation "
            "(how the extension asks whether a page is already saved).",
        ),
    ] = None,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    sort: Sort = "-saved_at",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> BookmarkPage:
    rows, next_cursor = await service.list_bookmarks(
        session,
        user,
        q=q,
        tag=tag,
        url=url,
        status=status_,
        sort=sort,
        cursor=cursor,
        limit=limit,
    )
    tags = await service.tags_of(session, [b.id for b in rows])
    return BookmarkPage(
        items=[BookmarkOut(**service.to_out(b, tags[b.id])) for b in rows], next_cursor=next_cursor
    )


@router.get(
    "/{bookmark_id}",
    response_model=BookmarkDetail,
    summary="One bookmark with its extracted text and processing status",
    responses=responses(NotFound),
)
async def get_bookmark(
    bookmark_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> BookmarkDetail:
    return await _detail(session, user, bookmark_id)


@router.patch(
    "/{bookmark_id}",
    response_model=BookmarkDetail,
    summary="Edit the title, notes or tags",
    responses=responses(NotFound, Conflict, Unprocessable),
)
async def update_bookmark(
    data: BookmarkUpdate, bookmark: ValidBookmark, user: CurrentUser, session: SessionDep
) -> BookmarkDetail:
    await service.update_bookmark(session, user, bookmark, data)
    return await _detail(session, user, bookmark.id)


@router.delete(
    "/{bookmark_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a bookmark",
    responses=responses(NotFound),
)
async def delete_bookmark(bookmark: ValidBookmark, session: SessionDep) -> Response:
    await service.delete_bookmark(session, bookmark)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{bookmark_id}/refresh",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BookmarkOut,
    summary="Fetch, extract and embed again",
    responses=responses(NotFound),
)
async def refresh_bookmark(bookmark: ValidBookmark, session: SessionDep) -> BookmarkOut:
    await service.refresh(session, bookmark)
    tags = await service.tags_of(session, [bookmark.id])
    return BookmarkOut(**service.to_out(bookmark, tags[bookmark.id]))
