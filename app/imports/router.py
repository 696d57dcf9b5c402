from __future__ import annotations

import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile, status
from fastapi.responses import StreamingResponse

from app.db import utcnow
from app.deps import CurrentUser, SessionDep, SettingsDep
from app.errors import NotFound, PayloadTooLarge, Unauthorized, Unprocessable, responses
from app.imports import exports, service
from app.imports.models import ImportBatch
from app.imports.schemas import (
    EntryFilter,
    ExportFormat,
    ImportDetail,
    ImportEntryOut,
    ImportEntryPage,
    ImportOut,
    ImportPage,
)
from app.lists import service as lists_service

router = APIRouter(prefix="/imports", tags=["imports"], responses=responses(Unauthorized))
exports_router = APIRouter(prefix="/exports", tags=["exports"], responses=responses(Unauthorized))

FAILED_SHOWN = 20


async def valid_import(import_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> ImportBatch:
    return await service.get_owned(session, user, import_id)


ValidImport = Annotated[ImportBatch, Depends(valid_import)]


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportOut,
    summary="Import a bookmark file; its format is detected, its entries saved in the background",
    description=(
        "Netscape bookmark HTML (Chrome, Firefox, Edge, Safari), Pocket (HTML, CSV), Raindrop "
        "CSV, Instapaper CSV, Karakeep JSON, Linkwarden JSON, Omnivore (ZIP or JSON), Pinboard JSON, "
        "Chrome/Firefox JSON, Fuze's own exports, or a list of URLs. The file is checked "
        "first: a malformed one is refused with 422 saying where. Follow the import with "
        "GET /api/imports/{id} or the `import.progress` events of /api/events."
    ),
    responses=responses(Unprocessable, PayloadTooLarge),
)
async def create_import(
    file: Annotated[UploadFile, File(description="The exported file.")],
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
) -> ImportOut:
    batch = await service.accept(session, settings, user, file.file, file.filename)
    return ImportOut(**service.summary(batch))


@router.get("", response_model=ImportPage, summary="Your imports, newest first")
async def list_imports(
    user: CurrentUser,
    session: SessionDep,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ImportPage:
    rows, next_cursor = await service.list_imports(session, user, cursor, limit)
    return ImportPage(
        items=[ImportOut(**service.summary(b)) for b in rows], next_cursor=next_cursor
    )


@router.get(
    "/{import_id}",
    response_model=ImportDetail,
    summary="One import's progress, counted now, with the first failed entries and why",
    responses=responses(NotFound),
)
async def get_import(batch: ValidImport, session: SessionDep) -> ImportDetail:
    statuses = await service.count_pipeline(session, batch)
    failed, next_cursor = await service.list_entries(session, batch, "failed", None, FAILED_SHOWN)
    return ImportDetail(
        **service.summary(batch, statuses),
        failed_entries=ImportEntryPage(
            items=[ImportEntryOut(**e) for e in failed], next_cursor=next_cursor
        ),
    )


@router.get(
    "/{import_id}/entries",
    response_model=ImportEntryPage,
    summary="The entries of an import in file order, with what became of each",
    responses=responses(NotFound, Unprocessable),
)
async def list_import_entries(
    batch: ValidImport,
    session: SessionDep,
    outcome: Annotated[
        EntryFilter | None,
        Query(description="`failed`: invalid entries and imported pages that failed."),
    ] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ImportEntryPage:
    items, next_cursor = await service.list_entries(session, batch, outcome, cursor, limit)
    return ImportEntryPage(items=[ImportEntryOut(**e) for e in items], next_cursor=next_cursor)


@exports_router.get(
    "",
    summary="All your bookmarks with tags, notes and dates, as a download",
    description=(
        "`html`: a Netscape bookmark file that browsers and Fuze import (tags in TAGS, notes "
        "in <DD>, saved dates in ADD_DATE); `json`: Fuze's export (with each page's archived "
        "copies listed); `csv`: one row per bookmark; `zip`: Fuze's JSON export with every "
        "archived copy (`archives/<bookmark id>/<archive id>.html.gz`) and `manifest.json` "
        "mapping bookmarks to their files, which Fuze imports back, archives included. "
        "With `list`, only the bookmarks in that list (and with `sublists`, in the lists "
        "under it); the JSON names each bookmark's lists by their paths, and Fuze's import "
        "puts them back in lists of those names."
    ),
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {t: {} for t in exports.MEDIA_TYPES.values()},
            "description": "The file, streamed.",
        },
        **responses(NotFound),
    },
)
async def export_bookmarks(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    format: ExportFormat = "html",
    list_: Annotated[
        uuid.UUID | None,
        Query(alias="list", description="Only the bookmarks in this list (404 if not yours)."),
    ] = None,
    sublists: Annotated[
        bool, Query(description="With `list`: the bookmarks of its sub-lists too.")
    ] = False,
) -> StreamingResponse:
    list_ids = await lists_service.scope(session, user, list_, sublists) if list_ else None
    name = f"fuze-bookmarks-{utcnow():%Y-%m-%d}.{format}"
    if list_ is not None:
        named = (await lists_service.get_owned(session, user, list_)).name
        slug = "-".join(re.findall(r"[a-z0-9]+", named.lower()))[:40] or "list"
        name = f"fuze-{slug}-{utcnow():%Y-%m-%d}.{format}"
    # The stream outlives the request's session: it opens its own, one per page.
    return StreamingResponse(
        exports.stream(
            request.app.state.reads,
            request.app.state.sessionmaker,
            user.id,
            format,
            settings,
            list_ids,
        ),
        media_type=exports.MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
