from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile, status
from fastapi.responses import FileResponse, JSONResponse

from app.archives import images as archive_images
from app.bookmarks import service
from app.bookmarks.models import Bookmark
from app.bookmarks.schemas import (
    BookmarkCreate,
    BookmarkDetail,
    BookmarkOut,
    BookmarkPage,
    BookmarkQuery,
    BookmarkUpdate,
    ProgressIn,
    ProgressOut,
    clean_tags,
)
from app.config import Settings
from app.db import after_commit, request_session, session_fetch
from app.deps import CurrentUser, ReadsDep, RedisDep, SessionDep, SettingsDep
from app.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unprocessable,
    UnsupportedMediaType,
    responses,
)
from app.idempotency import Idempotency, IdempotencyKeyHeader
from app.lists import service as lists_service
from app.params import QueryModel
from app.thumbnails import service as thumbnails_service
from app.webhooks.emit import emit as webhook_emit
from app.wire import Writer, template

router = APIRouter(prefix="/bookmarks", tags=["bookmarks"], responses=responses(Unauthorized))


async def valid_bookmark(
    bookmark_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> Bookmark:
    return await service.get_owned(session, user, bookmark_id)


ValidBookmark = Annotated[Bookmark, Depends(valid_bookmark)]


def _json(model: BookmarkDetail) -> Response:
    """The answer encoded once by its model: returned as a model, FastAPI would validate it
    again against the response model, then encode a dict of it (about 3 ms for a page of 20
    on the 2-core machine). The response model in the route's decorator keeps the schema."""
    return Response(model.model_dump_json().encode(), media_type="application/json")


async def _detail(
    fetch: Callable[..., Awaitable[list[Any]]],
    settings: Settings,
    user_id: uuid.UUID,
    bookmark_id: uuid.UUID,
) -> BookmarkDetail:
    """One bookmark's page (service.detail_of), through the read pool or the session."""
    detail = await service.detail_of(fetch, bookmark_id)
    out = detail.card.out
    out["archive_status"] = detail.card.archive_status
    signed = thumbnails_service.token(settings, user_id)
    out.update(thumbnails_service.fields(detail.card.picture, bookmark_id, signed))
    # The reader view shows the images of the archived copy, not the live site's.
    out["content_html"] = await archive_images.from_archive(
        settings, user_id, bookmark_id, detail.ready_archive, out["content_html"]
    )
    return BookmarkDetail(**out)


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
    data: BookmarkCreate,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    redis: RedisDep,
    idempotency_key: Annotated[str | None, IdempotencyKeyHeader] = None,
) -> JSONResponse:
    idem = Idempotency(redis, user.id, "save", idempotency_key)
    if (replayed := await idem.replay(data.model_dump(mode="json"))) is not None:
        return replayed
    bookmark, created = await service.create(session, settings, user, data)
    # A bookmark just made without tags has none: no statement to find them.
    tags = {} if created and not data.tags else await service.tags_of(session, [bookmark.id])
    body = BookmarkOut(**service.to_out(bookmark, tags.get(bookmark.id, []))).model_dump(
        mode="json"
    )
    status_code = 201 if created else 200
    idem.remember(session, status_code, body)
    if created:
        saved = {k: body[k] for k in ("id", "url", "title", "status", "tags", "saved_at")}
        after_commit(session, partial(webhook_emit, redis, user.id, "bookmark.saved", saved))
    return JSONResponse(body, status_code=status_code)


@router.post(
    "/upload",
    status_code=status.HTTP_201_CREATED,
    response_model=BookmarkOut,
    summary="Save a PDF, Markdown or text file (201 new, pending; 200 when already saved)",
    description=(
        "A PDF (`%PDF-`, whatever its name), a `.md` or a `.txt` file (UTF-8), up to "
        "FUZE_PDF_MAX_BYTES (413 `file_too_large` past it; 415 `unsupported_file` for another "
        "kind). The file is kept as the bookmark's archive (GET /api/bookmarks/{id}/file) and "
        "its text read in the background. The same file again returns its bookmark."
    ),
    responses={
        200: {"model": BookmarkOut, "description": "Already saved: the existing bookmark."},
        **responses(Forbidden, Unprocessable, PayloadTooLarge, UnsupportedMediaType),
    },
)
async def upload_bookmark(
    file: Annotated[UploadFile, File(description="The PDF, Markdown or text file.")],
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    tags: Annotated[str | None, Form(max_length=4000, description="Comma-separated tags.")] = None,
    notes: Annotated[str | None, Form(max_length=100_000)] = None,
) -> JSONResponse:
    try:
        tag_names = clean_tags(tags.split(",") if tags else []) or []
    except ValueError as exc:
        raise Unprocessable(str(exc).capitalize() + ".", code="invalid_tags") from exc
    bookmark, created = await service.upload(
        session,
        settings,
        user,
        file.file,
        file.filename,
        tags=tag_names,
        notes=notes.strip() if notes and notes.strip() else None,
    )
    tag_list = await service.tags_of(session, [bookmark.id])
    body = BookmarkOut(**service.to_out(bookmark, tag_list[bookmark.id]))
    return JSONResponse(body.model_dump(mode="json"), status_code=201 if created else 200)


_LIST = QueryModel(BookmarkQuery)
# A page of the library is written from its rows' dicts (app.wire).
_PAGE_JSON = Writer(BookmarkPage)
_OUT = template(BookmarkOut)


@router.get(
    "",
    response_model=BookmarkPage,
    summary="Your saved items, newest first by default",
    responses=responses(NotFound, Unprocessable),
    openapi_extra=_LIST.openapi,
)
async def list_bookmarks(
    request: Request,
    user: CurrentUser,
    reads: ReadsDep,
    settings: SettingsDep,
    params: Annotated[BookmarkQuery, Depends(_LIST)],
) -> Response:
    p = params
    in_lists = None
    if p.list_:
        async with request_session(request) as session:
            in_lists = await lists_service.scope(session, user, p.list_, p.sublists)
    cards, next_cursor = await service.list_page(
        reads,
        user.id,
        q=p.q,
        tag=p.tag,
        url=p.url,
        status=p.status,
        shelf=p.shelf or ("all" if p.url is not None else "library"),
        read=p.read,
        favorite=p.favorite,
        list_ids=in_lists,
        sort=p.sort,
        cursor=p.cursor,
        limit=p.limit,
    )
    signed = thumbnails_service.token(settings, user.id)
    items = [
        {
            **_OUT,
            **card.out,
            "archive_status": card.archive_status,
            **thumbnails_service.fields(card.picture, card.out["id"], signed),
        }
        for card in cards
    ]
    body = _PAGE_JSON({"items": items, "next_cursor": next_cursor})
    return Response(body, media_type="application/json")


@router.get(
    "/{bookmark_id}",
    response_model=BookmarkDetail,
    summary="One bookmark with its extracted text and processing status",
    responses=responses(NotFound),
)
async def get_bookmark(
    bookmark_id: uuid.UUID,
    user: CurrentUser,
    reads: ReadsDep,
    settings: SettingsDep,
) -> Response:
    fetch = partial(reads.fetch, user=user.id, generic=True)
    return _json(await _detail(fetch, settings, user.id, bookmark_id))


@router.patch(
    "/{bookmark_id}",
    response_model=BookmarkDetail,
    summary="Edit the title, notes or tags; mark it read, favourite or archived",
    responses=responses(NotFound, Conflict, Unprocessable),
)
async def update_bookmark(
    data: BookmarkUpdate,
    bookmark: ValidBookmark,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
) -> BookmarkDetail:
    await service.update_bookmark(session, user, bookmark, data)
    return await _detail(partial(session_fetch, session), settings, user.id, bookmark.id)


@router.put(
    "/{bookmark_id}/progress",
    response_model=ProgressOut,
    summary="Keep how far it has been read (the reader sends it as you scroll)",
    description="Reaching the end (97%) marks it read. Its `version` does not change, so an "
    "edit open elsewhere stays valid.",
    responses=responses(NotFound, Unprocessable),
)
async def set_progress(
    data: ProgressIn, bookmark: ValidBookmark, user: CurrentUser, session: SessionDep
) -> ProgressOut:
    return await service.set_progress(session, user, bookmark, data.progress)


@router.delete(
    "/{bookmark_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a bookmark",
    responses=responses(NotFound),
)
async def delete_bookmark(
    bookmark: ValidBookmark, session: SessionDep, settings: SettingsDep
) -> Response:
    await service.delete_bookmark(session, settings, bookmark)
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


@router.get(
    "/{bookmark_id}/file",
    response_class=FileResponse,
    summary="The kept file of a PDF, Markdown or text bookmark, as a download",
    responses={
        200: {
            "description": "The file, as an attachment.",
            "content": {
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                "text/markdown": {"schema": {"type": "string", "format": "binary"}},
                "text/plain": {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **responses(NotFound),
    },
)
async def get_bookmark_file(bookmark: ValidBookmark, settings: SettingsDep) -> FileResponse:
    path, media_type = service.kept_file(settings, bookmark)
    return FileResponse(
        path,
        media_type=media_type,
        filename=service.download_name(bookmark, path),
        content_disposition_type="attachment",
        headers={
            # Never run as a page of this origin, whatever a browser makes of the bytes.
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )
