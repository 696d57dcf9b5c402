from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import Authenticated
from app.bookmarks import service as bookmarks_service
from app.bookmarks.schemas import BookmarkOut
from app.db import AUTHENTICATED, request_session
from app.deps import CurrentUser, RedisDep
from app.errors import NotFound, Unauthorized, Unprocessable, responses
from app.lists import service as lists_service
from app.params import QueryModel
from app.recommendations import service
from app.recommendations.schemas import (
    Recommendation,
    RecommendationFeatures,
    Recommendations,
    RecommendationsQuery,
    TextContext,
)
from app.users.models import User

router = APIRouter(tags=["recommendations"], responses=responses(Unauthorized))

_CONTEXT_QUERY = QueryModel(RecommendationsQuery)


async def _answer(
    request: Request,
    user: CurrentUser,
    redis: Any,
    ctx_type: str,
    ctx_key: str,
    build: Callable[[AsyncSession], Awaitable[service.Context]],
    limit: int,
    include_attached: bool,
    in_list: uuid.UUID | None = None,
    sublists: bool = False,
) -> Response:
    """The answer from the cache, with no ORM session (what most requests are), or computed
    in one."""
    found: Authenticated = request.scope[AUTHENTICATED]
    version = found.data_version  # read with the user (app.auth.service.user_from_token)
    scope = f"{ctx_key}@{in_list}{'+' if sublists else ''}" if in_list else ctx_key
    key = service.cache_key(user, version, ctx_type, scope, limit, include_attached)
    # Checked before the cache: a list deleted with nothing in it bumps no data version.
    if in_list is None and (hit := await service.cached(redis, key)) is not None:
        return _cached(hit)
    async with request_session(request) as session:
        list_ids = await lists_service.scope(session, user, in_list, sublists) if in_list else None
        if in_list is not None and (hit := await service.cached(redis, key)) is not None:
            return _cached(hit)
        return await _compute(
            request, user, session, redis, key, version, build, limit, include_attached,
            list_ids,
        )  # fmt: skip


def _cached(hit: bytes) -> Response:
    # The stored JSON as it is (validated when it was made), marked as cached. The key holds
    # this user's id and current data version, so the context was theirs when it was made
    # and still is (deleting it would have bumped the version).
    return Response(b'{"cached":true,' + hit[1:], media_type="application/json")


async def _compute(
    request: Request,
    user: User,
    session: AsyncSession,
    redis: Any,
    key: str,
    version: int,
    build: Callable[[AsyncSession], Awaitable[service.Context]],
    limit: int,
    include_attached: bool,
    list_ids: list[uuid.UUID] | None,
) -> Response:
    ctx = await build(session)  # checks that the context is this user's (404 otherwise)
    found = await service.recommend(
        session, user, ctx, limit, include_attached, reads=request.app.state.reads,
        list_ids=list_ids,
    )  # fmt: skip
    # The items with their tags and analysis status, in one query.
    rows = await bookmarks_service.outs_of(
        request.app.state.reads, user.id, [c.bookmark_id for c in found]
    )
    items = [
        Recommendation(
            bookmark=BookmarkOut(**rows[c.bookmark_id][0]),
            score=round(c.score / service.MAX_PLAIN, 4),
            reasons=c.reasons,
            features=RecommendationFeatures(
                similarity=round(c.similarity, 4),
                semantic_rank=c.semantic_rank,
                keyword_rank=c.keyword_rank,
                technologies=c.technologies,
                intent_fit=round(c.intent_fit, 2),
                marked_relevant=c.marked,
                similar_to_relevant=c.liked_count,
            ),
            weak=c.weak,
        )
        for c in found
        if c.bookmark_id in rows
    ]
    out = Recommendations(
        items=items,
        context={"type": ctx.type, "id": ctx.key},  # type: ignore[arg-type]
        cached=False,
        data_version=version,
    )
    await service.store(redis, key, out.model_dump_json(exclude={"cached"}).encode())
    return Response(out.model_dump_json().encode(), media_type="application/json")


# One route per kind of context. Its id is checked against the user when the answer is
# computed (the context builders load it for this user: another user's id is a 404); a cached
# answer exists only for an id that passed that check under the current data version.
_CONTEXTS = {
    "project": (
        service.project_context,
        "Your saved items that help this project, with reasons",
    ),
    "task": (
        service.task_context,
        "Your saved items that help this task (and its project), with reasons",
    ),
    "subtask": (
        service.subtask_context,
        "Your saved items that help this subtask (its task and project too), with reasons",
    ),
}


def _context_route(kind: str) -> None:
    build, summary = _CONTEXTS[kind]

    async def endpoint(
        context_id: uuid.UUID,
        request: Request,
        user: CurrentUser,
        redis: RedisDep,
        params: Annotated[RecommendationsQuery, Depends(_CONTEXT_QUERY)],
    ) -> Response:
        embedder = request.app.state.embedder
        p = params
        return await _answer(
            request, user, redis, kind, str(context_id),
            lambda session: build(session, user, context_id, embedder, redis),
            p.limit, p.include_attached, p.list_, p.sublists,
        )  # fmt: skip

    # The path names the id after its kind (project_id, ...), as the other routes do; set
    # here as an object, since this module's annotations are strings.
    endpoint.__annotations__["context_id"] = Annotated[uuid.UUID, Path(alias=f"{kind}_id")]
    router.add_api_route(
        f"/{kind}s/{{{kind}_id}}/recommendations",
        endpoint,
        methods=["GET"],
        name=f"{kind}_recommendations",
        response_model=Recommendations,
        summary=summary,
        responses=responses(NotFound, Unprocessable),
        openapi_extra=_CONTEXT_QUERY.openapi,
    )


for _kind in _CONTEXTS:
    _context_route(_kind)


@router.post(
    "/recommendations",
    response_model=Recommendations,
    summary="Your saved items that help with what you describe",
    description="For a free-form context. The answer's `context` identifies this text for "
    "POST /api/feedback.",
    responses=responses(NotFound, Unprocessable),
)
async def text_recommendations(
    data: TextContext,
    request: Request,
    user: CurrentUser,
    redis: RedisDep,
) -> Response:
    embedder = request.app.state.embedder
    key = service.text_key(data.text, data.technologies)
    return await _answer(
        request, user, redis, "text", key,
        lambda _session: service.text_context(data.text, data.technologies, embedder, redis),
        data.limit, data.include_attached, data.list_id, data.sublists,
    )  # fmt: skip
