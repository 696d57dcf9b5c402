from __future__ import annotations

import asyncio
import shutil
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.admin import service
from app.admin.schemas import (
    AdminUserCreate,
    AdminUserOut,
    AdminUserPage,
    AdminUserUpdate,
    InviteCreate,
    InviteCreated,
    InviteOut,
    Overview,
)
from app.deps import AdminUser, RedisDep, SessionDep, SettingsDep
from app.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable, responses
from app.extraction import documents

router = APIRouter(prefix="/admin", tags=["admin"], responses=responses(Unauthorized, Forbidden))


@router.get("/overview", response_model=Overview, summary="The server: accounts, storage, queues")
async def get_overview(
    _: AdminUser, session: SessionDep, redis: RedisDep, settings: SettingsDep
) -> Overview:
    return await service.overview(session, redis, settings)


@router.get("/users", response_model=AdminUserPage, summary="Accounts, oldest first, with use")
async def list_users(
    _: AdminUser,
    session: SessionDep,
    q: Annotated[
        str | None, Query(max_length=320, description="Part of a username or email.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AdminUserPage:
    return await service.list_users(session, q, limit, offset)


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    response_model=AdminUserOut,
    summary="Create an account (whatever the sign-up policy)",
    responses=responses(Conflict, Unprocessable),
)
async def create_user(
    data: AdminUserCreate, _: AdminUser, session: SessionDep, settings: SettingsDep
) -> AdminUserOut:
    user = await service.create_user(session, settings, data)
    return await service.user_out(session, user.id)


@router.patch(
    "/users/{user_id}",
    response_model=AdminUserOut,
    summary="Disable or enable an account, make it an administrator, set its limits",
    responses=responses(NotFound, Conflict, Unprocessable),
)
async def update_user(
    user_id: uuid.UUID, data: AdminUserUpdate, _: AdminUser, session: SessionDep
) -> AdminUserOut:
    await service.update_user(session, await service.get_user(session, user_id), data)
    return await service.user_out(session, user_id)


@router.delete(
    "/users/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an account and everything it saved",
    responses=responses(NotFound, Conflict),
)
async def delete_user(
    user_id: uuid.UUID, admin: AdminUser, session: SessionDep, settings: SettingsDep
) -> Response:
    await service.delete_user(session, admin, await service.get_user(session, user_id))
    # The files kept for its bookmarks (uploads, PDFs) go with it, as their rows do.
    await asyncio.to_thread(
        shutil.rmtree, documents.archive_dir(settings.data_dir, user_id), ignore_errors=True
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/invites", response_model=list[InviteOut], summary="Invite codes, newest first")
async def list_invites(_: AdminUser, session: SessionDep) -> list[InviteOut]:
    return [
        InviteOut(**_invite_fields(invite), state=service.invite_state(invite))
        for invite in await service.list_invites(session)
    ]


@router.post(
    "/invites",
    status_code=status.HTTP_201_CREATED,
    response_model=InviteCreated,
    summary="Create an invite code (the code is shown only in this answer)",
    responses=responses(Unprocessable),
)
async def create_invite(data: InviteCreate, admin: AdminUser, session: SessionDep) -> InviteCreated:
    invite, code = await service.create_invite(session, admin, data)
    return InviteCreated(**_invite_fields(invite), state=service.invite_state(invite), code=code)


@router.delete(
    "/invites/{invite_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an invite code",
    responses=responses(NotFound),
)
async def revoke_invite(invite_id: uuid.UUID, _: AdminUser, session: SessionDep) -> Response:
    await service.revoke_invite(session, invite_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _invite_fields(invite: object) -> dict[str, object]:
    fields = InviteOut.model_fields.keys() - {"state"}
    return {name: getattr(invite, name) for name in fields}
