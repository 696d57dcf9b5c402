"""Duplicates over HTTP: the pairs of pages that hold the same text, a scan of the whole
library, and for each pair: merge into one, or keep both."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from app.bookmarks.models import Bookmark
from app.deps import CurrentUser, RedisDep, SessionDep, SettingsDep
from app.duplicates import jobs, service, similarity
from app.duplicates.models import DuplicatePair
from app.duplicates.schemas import (
    DuplicateOut,
    DuplicatePage,
    DuplicatePageList,
    MergeIn,
    MergeOut,
    PairStatus,
    ScanOut,
)
from app.errors import NotFound, Unauthorized, Unprocessable, responses

router = APIRouter(prefix="/duplicates", tags=["duplicates"], responses=responses(Unauthorized))


async def valid_pair(pair_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> DuplicatePair:
    return await service.get_owned(session, user, pair_id)


ValidPair = Annotated[DuplicatePair, Depends(valid_pair)]


def _page(b: Bookmark) -> DuplicatePage:
    return DuplicatePage(
        id=b.id, title=b.title or b.page_title, url=b.url, site_name=b.site_name,
        word_count=b.word_count, saved_at=b.saved_at, favorite=b.favorite,
    )  # fmt: skip


def _out(pair: DuplicatePair, later: Bookmark, first: Bookmark) -> DuplicateOut:
    return DuplicateOut(
        id=pair.id, bookmark=_page(later), original=_page(first), score=pair.score,
        reason=similarity.reason(pair.score, pair.size_ratio), status=pair.status,  # type: ignore[arg-type]
        created_at=pair.created_at,
    )  # fmt: skip


@router.get(
    "",
    response_model=DuplicatePageList,
    summary="Pairs of your pages that hold the same text under different URLs, newest first",
    responses=responses(Unprocessable),
)
async def list_duplicates(
    user: CurrentUser,
    session: SessionDep,
    status: PairStatus = "open",
    bookmark_id: Annotated[
        uuid.UUID | None, Query(description="Only the pairs this bookmark is in.")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> DuplicatePageList:
    found = await service.pairs(
        session, user, status=status, bookmark_id=bookmark_id, cursor=cursor, limit=limit
    )
    return DuplicatePageList(
        items=[_out(*row) for row in found.rows], next_cursor=found.next_cursor
    )


@router.post(
    "/scan",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ScanOut,
    summary="Look for duplicates across your whole library (a job; follow it with GET)",
)
async def scan_duplicates(user: CurrentUser, session: SessionDep, redis: RedisDep) -> ScanOut:
    total = await service.embedded_count(session, user.id)
    return await jobs.start_scan(redis, user.id, total)


@router.get("/scan", response_model=ScanOut, summary="How far the last scan has got")
async def scan_progress(user: CurrentUser, redis: RedisDep) -> ScanOut:
    return await jobs.scan_progress(redis, user.id)


@router.post(
    "/{pair_id}/merge",
    response_model=MergeOut,
    summary="Keep one page of a pair: the other's tags, notes, highlights, feedback and lists "
    "move to it, and the other is deleted",
    responses=responses(NotFound, Unprocessable),
)
async def merge_duplicates(
    data: MergeIn, pair: ValidPair, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> MergeOut:
    kept, removed = await service.merge(session, settings, user, pair, data.keep)
    return MergeOut(kept=kept.id, removed=removed)


@router.post(
    "/{pair_id}/dismiss",
    response_model=DuplicateOut,
    summary="Keep both pages: the pair is not suggested again",
    responses=responses(NotFound),
)
async def dismiss_duplicates(
    pair: ValidPair, user: CurrentUser, session: SessionDep
) -> DuplicateOut:
    await service.dismiss(session, pair)
    found = await service.pairs(session, user, status="dismissed", pair_id=pair.id, limit=1)
    return _out(*found.rows[0])
