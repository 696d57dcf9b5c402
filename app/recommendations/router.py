from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from app.bookmarks import service as bookmarks_service
from app.bookmarks.models import Bookmark
from app.bookmarks.schemas import BookmarkOut
from app.deps import CurrentUser, RedisDep, SessionDep
from app.errors import NotFound, Unauthorized, Unprocessable, responses
from app.projects import service as projects_service
from app.recommendations import service
from app.recommendations.schemas import (
    Recommendation,
    RecommendationFeatures,
    Recommendations,
    TextContext,
)

router = APIRouter(tags=["recommendations"], responses=responses(Unauthorized))

Limit = Annotated[int, Query(ge=1, le=50)]
IncludeAttached = Annotated[
    bool, Query(description="Also list items already saved to this context.")
]


async def _answer(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    redis: Any,
    ctx_type: str,
    ctx_key: str,
    build: Callable[[], Awaitable[service.Context]],
    limit: int,
    include_attached: bool,
) -> Recommendations:
    key = service.cache_key(user, ctx_type, ctx_key, limit, include_attached)
    hit = await service.cached(redis, key)
    if hit is not None:
        return Recommendations(**{**hit, "cached": True})
    ctx = await build()
    found = await service.recommend(session, user, ctx, limit, include_attached)
    ids = [c.bookmark_id for c in found]
    rows = {b.id: b for b in await session.scalars(select(Bookmark).where(Bookmark.id.in_(ids)))}
    await bookmarks_service.with_analysis(session, list(rows.values()))
    tags = await bookmarks_service.tags_of(session, ids)
    items = [
        Recommendation(
            bookmark=BookmarkOut(
                **bookmarks_service.to_out(rows[c.bookmark_id], tags[c.bookmark_id])
            ),
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
        )
        for c in found
        if c.bookmark_id in rows
    ]
    out = Recommendations(
        items=items,
        context={"type": ctx.type, "id": ctx.key},  # type: ignore[arg-type]
        cached=False,
        data_version=user.data_version,
    )
    await service.store(redis, key, out.model_dump(mode="json"))
    return out


@router.get(
    "/projects/{project_id}/recommendations",
    response_model=Recommendations,
    summary="Your saved items that help this project, with reasons",
    responses=responses(NotFound),
)
async def project_recommendations(
    project_id: uuid.UUID,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    redis: RedisDep,
    limit: Limit = 10,
    include_attached: IncludeAttached = False,
) -> Recommendations:
    embedder = request.app.state.embedder
    # Ownership first: another user's project is a 404 even when a cache entry could exist.
    await projects_service.get_project(session, user, project_id)
    return await _answer(
        request, user, session, redis, "project", str(project_id),
        lambda: service.project_context(session, user, project_id, embedder, redis),
        limit, include_attached,
    )  # fmt: skip


@router.get(
    "/tasks/{task_id}/recommendations",
    response_model=Recommendations,
    summary="Your saved items that help this task (and its project), with reasons",
    responses=responses(NotFound),
)
async def task_recommendations(
    task_id: uuid.UUID,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    redis: RedisDep,
    limit: Limit = 10,
    include_attached: IncludeAttached = False,
) -> Recommendations:
    embedder = request.app.state.embedder
    await projects_service.get_task(session, user, task_id)
    return await _answer(
        request, user, session, redis, "task", str(task_id),
        lambda: service.task_context(session, user, task_id, embedder, redis),
        limit, include_attached,
    )  # fmt: skip


@router.get(
    "/subtasks/{subtask_id}/recommendations",
    response_model=Recommendations,
    summary="Your saved items that help this subtask (its task and project too), with reasons",
    responses=responses(NotFound),
)
async def subtask_recommendations(
    subtask_id: uuid.UUID,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    redis: RedisDep,
    limit: Limit = 10,
    include_attached: IncludeAttached = False,
) -> Recommendations:
    embedder = request.app.state.embedder
    await projects_service.get_subtask(session, user, subtask_id)
    return await _answer(
        request, user, session, redis, "subtask", str(subtask_id),
        lambda: service.subtask_context(session, user, subtask_id, embedder, redis),
        limit, include_attached,
    )  # fmt: skip


@router.post(
    "/recommendations",
    response_model=Recommendations,
    summary="Your saved items that help with what you describe",
    description="For a free-form context. The answer's `context` identifies this text for "
    "POST /api/feedback.",
    responses=responses(Unprocessable),
)
async def text_recommendations(
    data: TextContext,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    redis: RedisDep,
) -> Recommendations:
    embedder = request.app.state.embedder
    key = service.text_key(data.text, data.technologies)
    return await _answer(
        request, user, session, redis, "text", key,
        lambda: service.text_context(data.text, data.technologies, embedder, redis),
        data.limit, data.include_attached,
    )  # fmt: skip
