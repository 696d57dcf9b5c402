"""Highlights over HTTP: a bookmark's highlights, making, changing and deleting one, all of a
user's highlights (newest first, or ranked for a query), and all of them as Markdown."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from app.bookmarks import service as bookmarks_service
from app.bookmarks.router import ValidBookmark
from app.deps import CurrentUser, RedisDep, SessionDep
from app.errors import NotFound, Unauthorized, Unprocessable, responses
from app.highlights import service
from app.highlights.models import Highlight
from app.highlights.schemas import (
    BookmarkRef,
    Color,
    HighlightCreate,
    HighlightHit,
    HighlightList,
    HighlightOut,
    HighlightPage,
    HighlightUpdate,
    SearchMode,
)
from app.projects.service import Vectors
from app.search import service as search_service

router = APIRouter(tags=["highlights"], responses=responses(Unauthorized))


async def valid_highlight(
    highlight_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> Highlight:
    return await service.get_owned(session, user, highlight_id)


ValidHighlight = Annotated[Highlight, Depends(valid_highlight)]


async def get_vectors(request: Request, redis: RedisDep) -> Vectors:
    return Vectors(getattr(request.app.state, "embedder", None), redis)


VectorsDep = Annotated[Vectors, Depends(get_vectors)]


@router.get(
    "/bookmarks/{bookmark_id}/highlights",
    response_model=HighlightList,
    summary="A bookmark's highlights, in reading order",
    responses=responses(NotFound),
)
async def list_bookmark_highlights(
    bookmark: ValidBookmark, user: CurrentUser, session: SessionDep
) -> HighlightList:
    rows = await service.for_bookmark(session, user, bookmark.id)
    return HighlightList(items=[service.to_out(h) for h in rows])


@router.post(
    "/bookmarks/{bookmark_id}/highlights",
    status_code=status.HTTP_201_CREATED,
    response_model=HighlightOut,
    summary="Highlight a passage of a bookmark's text, with a colour and a note",
    responses=responses(NotFound, Unprocessable),
)
async def create_highlight(
    data: HighlightCreate,
    bookmark: ValidBookmark,
    user: CurrentUser,
    session: SessionDep,
    vectors: VectorsDep,
) -> HighlightOut:
    return service.to_out(await service.create(session, user, bookmark, data, vectors))


@router.patch(
    "/highlights/{highlight_id}",
    response_model=HighlightOut,
    summary="Change a highlight's colour or note",
    responses=responses(NotFound, Unprocessable),
)
async def update_highlight(
    data: HighlightUpdate, highlight: ValidHighlight, session: SessionDep, vectors: VectorsDep
) -> HighlightOut:
    return service.to_out(await service.update(session, highlight, data, vectors))


@router.delete(
    "/highlights/{highlight_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a highlight (and its note)",
    responses=responses(NotFound),
)
async def delete_highlight(highlight: ValidHighlight, session: SessionDep) -> Response:
    await service.delete(session, highlight)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/highlights",
    response_model=HighlightPage,
    summary="All your highlights: newest first, or the ones that match a query",
    responses=responses(Unprocessable),
)
async def list_highlights(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    redis: RedisDep,
    q: Annotated[str | None, Query(max_length=500, description="Words or a question.")] = None,
    mode: Annotated[SearchMode, Query(description="How a query matches.")] = "hybrid",
    color: Color | None = None,
    bookmark_id: uuid.UUID | None = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> HighlightPage:
    query = (q or "").strip()
    if query:
        vector = (
            await search_service.query_vector(
                getattr(request.app.state, "embedder", None), redis, query
            )
            if mode != "keyword"
            else None
        )
        found, _ = await service.matching(
            session, user, query, mode, vector, color=color, bookmark_id=bookmark_id,
            offset=service.offset_of(cursor), limit=limit,
        )  # fmt: skip
    else:
        found = await service.newest(
            session, user, color=color, bookmark_id=bookmark_id, cursor=cursor, limit=limit
        )
    return HighlightPage(
        items=[
            HighlightHit(
                **service.to_out(h).model_dump(),
                bookmark=BookmarkRef(id=b.id, title=b.title or b.page_title, url=b.url),
                score=score,
            )
            for h, b, score in found.rows
        ],
        next_cursor=found.next_cursor,
        total=found.total,
    )


@router.get(
    "/highlights/export",
    summary="Your highlights and notes as Markdown (all of them, or one bookmark's)",
    response_class=Response,
    responses={200: {"content": {"text/markdown": {}}}, **responses(NotFound)},
)
async def export_highlights(
    user: CurrentUser, session: SessionDep, bookmark_id: uuid.UUID | None = None
) -> Response:
    groups = await service.grouped(session, user, bookmark_id)
    if bookmark_id and not groups:
        # 404 for another user's bookmark, an empty file for one of yours without highlights
        await bookmarks_service.get_owned(session, user, bookmark_id)
    name = "fuze-highlights.md"
    return Response(
        service.markdown(groups),
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
