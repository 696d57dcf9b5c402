"""Feed subscriptions over HTTP, and OPML in and out."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, File, Response, UploadFile, status
from sqlalchemy import select

from app.deps import CurrentUser, SessionDep
from app.errors import Conflict, NotFound, Unauthorized, Unprocessable, responses
from app.feeds import service
from app.feeds.models import Feed
from app.feeds.schemas import FeedCreate, FeedList, FeedOut, FeedUpdate, OpmlImported

router = APIRouter(prefix="/feeds", tags=["feeds"], responses=responses(Unauthorized))


async def valid_feed(feed_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Feed:
    return await service.get_owned(session, user, feed_id)


ValidFeed = Annotated[Feed, Depends(valid_feed)]


@router.get("", response_model=FeedList, summary="The feeds you follow, with each one's state")
async def list_feeds(user: CurrentUser, session: SessionDep) -> FeedList:
    rows = await session.scalars(
        select(Feed).where(Feed.user_id == user.id).order_by(Feed.created_at, Feed.id)
    )
    return FeedList(items=[service.to_out(f) for f in rows])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=FeedOut,
    summary="Follow an RSS or Atom feed: its new items are saved as they appear",
    responses=responses(Conflict, Unprocessable),
)
async def create_feed(data: FeedCreate, user: CurrentUser, session: SessionDep) -> FeedOut:
    return service.to_out(await service.subscribe(session, user, data))


@router.get(
    "/opml",
    summary="The feeds you follow as OPML (for another reader)",
    response_class=Response,
    responses={200: {"content": {"text/x-opml": {}}}},
)
async def export_opml(user: CurrentUser, session: SessionDep) -> Response:
    return Response(
        await service.export_opml(session, user),
        media_type="text/x-opml; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="fuze-feeds.opml"'},
    )


@router.post(
    "/opml",
    response_model=OpmlImported,
    summary="Follow the feeds of an OPML file (from another reader)",
    responses=responses(Unprocessable),
)
async def import_opml(
    file: Annotated[UploadFile, File(description="The OPML file.")],
    user: CurrentUser,
    session: SessionDep,
) -> OpmlImported:
    raw = await file.read(service.MAX_OPML_BYTES + 1)
    added, already, invalid = await service.import_opml(session, user, raw)
    return OpmlImported(added=added, already=already, invalid=invalid)


@router.patch(
    "/{feed_id}",
    response_model=FeedOut,
    summary="Rename a feed, change its tags or how often it is read, stop or resume it",
    responses=responses(NotFound, Unprocessable),
)
async def update_feed(data: FeedUpdate, feed: ValidFeed, session: SessionDep) -> FeedOut:
    return service.to_out(await service.update(session, feed, data))


@router.post(
    "/{feed_id}/refresh",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=FeedOut,
    summary="Read a feed now",
    responses=responses(NotFound),
)
async def refresh_feed(feed: ValidFeed, session: SessionDep) -> FeedOut:
    service.poll_now(session, feed)
    return service.to_out(feed)


@router.delete(
    "/{feed_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Stop following a feed (what it saved stays)",
    responses=responses(NotFound),
)
async def delete_feed(feed: ValidFeed, session: SessionDep) -> Response:
    await session.delete(feed)
    await session.flush()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
