from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from app import cursors
from app.bookmarks import service as bookmarks_service
from app.bookmarks.schemas import BookmarkOut
from app.db import request_session
from app.deps import CurrentUser, ReadsDep, RedisDep, SessionDep
from app.errors import NotFound, Unauthorized, Unprocessable, responses
from app.params import QueryModel
from app.search import service
from app.search.schemas import SearchHit, SearchQuery, SearchResults, SimilarHit, SimilarResults
from app.wire import Writer, template

router = APIRouter(tags=["search"], responses=responses(Unauthorized))


def _offset(cursor: str | None) -> int:
    return cursors.decode_offset(cursor, service.CANDIDATES * 2) if cursor else 0


_SEARCH = QueryModel(SearchQuery)


@router.get(
    "/search",
    response_model=SearchResults,
    summary="Search your saved items by meaning and keywords",
    responses=responses(Unprocessable),
    openapi_extra=_SEARCH.openapi,
)
async def search(
    request: Request,
    user: CurrentUser,
    reads: ReadsDep,
    redis: RedisDep,
    params: Annotated[SearchQuery, Depends(_SEARCH)],
) -> Response:
    p = params
    mode, limit = p.mode, p.limit
    offset = _offset(p.cursor)
    query = p.q.strip()
    if not query:
        return _json([], None, mode)
    filters = service.Filters(
        tag=p.tag,
        status=p.status,
        saved_after=p.saved_after,
        saved_before=p.saved_before,
        content_type=p.content_type,
    )
    page = partial(
        service.search_page,
        user_id=user.id,
        q=query,
        filters=filters,
        mode=mode,
        embedder=request.app.state.embedder,
        redis=redis,
        reads=reads,
        offset=offset,
        limit=limit,
    )
    if service.plain(query, filters):  # what people type: the read pool alone
        found = await page(session=None)
    else:  # filters or web-search syntax: through the ORM
        async with request_session(request) as session:
            found = await page(session=session)
    items = [
        {
            **_HIT,
            "bookmark": {**_OUT, **found.outs[h.bookmark_id][0]},
            "score": round(h.score, 4),
            "highlights": service.snippets(
                found.outs[h.bookmark_id][0]["description"], *found.outs[h.bookmark_id][1]
            ),
            "semantic_rank": h.semantic_rank,
            "keyword_rank": h.keyword_rank,
            "weak": h.weak,
        }
        for h in found.hits
        if h.bookmark_id in found.outs
    ]
    next_cursor = cursors.encode(offset + limit) if found.more else None
    return _json(items, next_cursor, found.mode)


# The results are written from dicts (app.wire): returned as a model, FastAPI would validate
# them again against the response model before serialising them (about 1 ms for a page of
# 20), and a model of each hit would check again what the database already holds.
_RESULTS_JSON = Writer(SearchResults)
_HIT = template(SearchHit)
_OUT = template(BookmarkOut)


def _json(items: list[dict[str, Any]], next_cursor: str | None, mode: str) -> Response:
    body = _RESULTS_JSON({"items": items, "next_cursor": next_cursor, "mode": mode})
    return Response(body, media_type="application/json")


@router.get(
    "/bookmarks/{bookmark_id}/similar",
    response_model=SimilarResults,
    summary="Your saved items most similar to this one",
    responses=responses(NotFound),
)
async def similar(
    bookmark_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    reads: ReadsDep,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> SimilarResults:
    vector = await service.bookmark_vector(session, user.id, bookmark_id)
    if vector is None:  # not embedded yet: nothing to compare with
        return SimilarResults(items=[])
    found = await service.semantic_candidates(
        session, user.id, vector, service.Filters(), limit=limit, exclude=bookmark_id
    )
    outs = await bookmarks_service.outs_of(reads, user.id, [bid for bid, _ in found])
    return SimilarResults(
        items=[
            SimilarHit(bookmark=BookmarkOut(**outs[bid][0]), score=round(1 - distance, 4))
            for bid, distance in found
            if bid in outs
        ]
    )
