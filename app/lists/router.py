"""Lists over HTTP: the tree with counts, make, rename or move, delete (the bookmarks stay),
and bookmarks in and out in bulk. A bookmark list is filtered by list on GET /api/bookmarks
(`list`, `sublists`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from app.deps import CurrentUser, SessionDep
from app.errors import Conflict, NotFound, Unauthorized, Unprocessable, responses
from app.lists import service
from app.lists.models import BookmarkList
from app.lists.schemas import BookmarkIds, ListCreate, ListOut, ListTree, ListUpdate, Membership

router = APIRouter(prefix="/lists", tags=["lists"], responses=responses(Unauthorized))


async def valid_list(list_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> BookmarkList:
    return await service.get_owned(session, user, list_id)


ValidList = Annotated[BookmarkList, Depends(valid_list)]


@router.get("", response_model=ListTree, summary="Your lists in tree order, with their counts")
async def list_lists(user: CurrentUser, session: SessionDep) -> ListTree:
    return ListTree(items=await service.tree(session, user))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ListOut,
    summary="Make a list, at the top or inside another",
    responses=responses(NotFound, Conflict, Unprocessable),
)
async def create_list(data: ListCreate, user: CurrentUser, session: SessionDep) -> ListOut:
    item = await service.create(session, user, data.name, data.parent_id)
    return await service.one(session, user, item.id)


@router.get(
    "/{list_id}",
    response_model=ListOut,
    summary="One list with its path and counts",
    responses=responses(NotFound),
)
async def get_list(item: ValidList, user: CurrentUser, session: SessionDep) -> ListOut:
    return await service.one(session, user, item.id)


@router.patch(
    "/{list_id}",
    response_model=ListOut,
    summary="Rename a list, or move it under another list (or to the top)",
    description="A name its new siblings already have (in any case) is 409 `list_name_taken`; "
    "moving a list into itself or one of its sub-lists is 422 `list_cycle`.",
    responses=responses(NotFound, Conflict, Unprocessable),
)
async def update_list(
    data: ListUpdate, item: ValidList, user: CurrentUser, session: SessionDep
) -> ListOut:
    await service.update(session, user, item, data)
    return await service.one(session, user, item.id)


@router.delete(
    "/{list_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a list: its bookmarks stay, its sub-lists move up to its parent",
    responses=responses(NotFound),
)
async def delete_list(item: ValidList, user: CurrentUser, session: SessionDep) -> Response:
    await service.remove(session, user, item)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{list_id}/bookmarks",
    response_model=Membership,
    summary="Add bookmarks to a list (up to 1,000 at once)",
    description="All or nothing: an id that is not one of your bookmarks is 404 "
    "`bookmark_not_found` and nothing is added. Bookmarks already in the list are left as "
    "they are.",
    responses=responses(NotFound, Unprocessable),
)
async def add_to_list(
    data: BookmarkIds, item: ValidList, user: CurrentUser, session: SessionDep
) -> Membership:
    changed = await service.add(session, user, item, data.bookmark_ids)
    return Membership(changed=changed, list=await service.one(session, user, item.id))


@router.delete(
    "/{list_id}/bookmarks",
    response_model=Membership,
    summary="Take bookmarks out of a list (they stay in your library)",
    responses=responses(NotFound, Unprocessable),
)
async def remove_from_list(
    data: BookmarkIds, item: ValidList, user: CurrentUser, session: SessionDep
) -> Membership:
    changed = await service.take_out(session, user, item, data.bookmark_ids)
    return Membership(changed=changed, list=await service.one(session, user, item.id))
