"""Tags over HTTP: the list with counts, rename, merge, delete, undo, and suggestions."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from app.deps import CurrentUser, RedisDep, SessionDep
from app.errors import NotFound, Unauthorized, Unprocessable, responses
from app.tags import service
from app.tags.schemas import Changed, Suggestions, TagList, TagMerge, TagRename, Undo

router = APIRouter(prefix="/tags", tags=["tags"], responses=responses(Unauthorized))


@router.get("", response_model=TagList, summary="Your tags with how many bookmarks have each")
async def list_tags(
    user: CurrentUser,
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=64, description="Part of a tag's name.")] = None,
    limit: Annotated[int, Query(ge=1, le=20_000)] = 1000,
) -> TagList:
    return TagList(items=await service.counts(session, user, (q or "").strip() or None, limit))


@router.get(
    "/suggestions",
    response_model=Suggestions,
    summary="Tags that look like one (same words, an abbreviation, close in meaning), and "
    "tags used once",
)
async def tag_suggestions(
    request: Request, user: CurrentUser, session: SessionDep, redis: RedisDep
) -> Suggestions:
    embedder = getattr(request.app.state, "embedder", None)
    return await service.suggestions(session, user, embedder, redis)


@router.post(
    "/merge",
    response_model=Changed,
    summary="Merge tags into one (undo with POST /api/tags/undo and the answer's `undo`)",
    responses=responses(NotFound, Unprocessable),
)
async def merge_tags(data: TagMerge, user: CurrentUser, session: SessionDep) -> Changed:
    return await service.merge(session, user, data.tags, data.into)


@router.post(
    "/undo",
    summary="Put back what a merge, rename or delete changed (its answer's `undo`)",
    responses=responses(Unprocessable),
)
async def undo_tags(data: Undo, user: CurrentUser, session: SessionDep) -> dict[str, int]:
    return {"restored": await service.undo(session, user, data)}


@router.patch(
    "/{tag_id}",
    response_model=Changed,
    summary="Rename a tag (to another tag's name: merge into it)",
    responses=responses(NotFound, Unprocessable),
)
async def rename_tag(
    tag_id: uuid.UUID, data: TagRename, user: CurrentUser, session: SessionDep
) -> Changed:
    return await service.rename(session, user, tag_id, data.name)


@router.delete(
    "/{tag_id}",
    response_model=Changed,
    summary="Delete a tag (its bookmarks stay; the answer's `undo` puts it back)",
    responses=responses(NotFound),
)
async def delete_tag(tag_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Changed:
    return await service.remove(session, user, tag_id)
