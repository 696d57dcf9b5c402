from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas import Input
from app.users.schemas import UserCreate


class AdminUserOut(BaseModel):
    id: uuid.UUID
    username: str
    email: str
    display_name: str | None
    created_at: datetime
    is_admin: bool
    disabled_at: datetime | None = Field(description="When an administrator disabled it.")
    bookmarks: int
    failed_bookmarks: int
    storage_bytes: int = Field(
        description="Stored size of the user's saved pages (text, HTML, metadata), compressed."
    )
    last_seen_at: datetime | None = Field(
        description="The latest sign-in, token refresh or API token use (within about a minute)."
    )
    bookmark_quota: int | None = Field(
        description="This user's own limit (0 for none); null: the server's default."
    )
    archive_quota_bytes: int | None = Field(
        description="This user's own archive storage limit (not enforced yet)."
    )


class AdminUserPage(BaseModel):
    items: list[AdminUserOut]
    total: int


class AdminUserCreate(UserCreate):
    is_admin: bool = False


class AdminUserUpdate(Input):
    disabled: bool | None = Field(
        default=None, description="true: every token of the user stops at once."
    )
    is_admin: bool | None = None
    bookmark_quota: int | None = Field(default=None, ge=0, le=100_000_000)
    archive_quota_bytes: int | None = Field(default=None, ge=0, le=2**62)


class InviteCreate(Input):
    max_uses: int = Field(default=1, ge=1, le=10_000)
    expires_in_days: int | None = Field(default=7, ge=1, le=3650)
    note: str | None = Field(default=None, max_length=200)


class InviteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    prefix: str = Field(description="The first characters of the code, to tell codes apart.")
    note: str | None
    max_uses: int
    uses: int
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    state: Literal["active", "used", "expired", "revoked"]


class InviteCreated(InviteOut):
    code: str = Field(description="The invite code. Shown once; hand it on now.")


class QueueUse(BaseModel):
    name: str
    ready: int = Field(description="Jobs waiting for a worker now.")
    deferred: int = Field(description="Jobs waiting for their time (retries with backoff).")


class Overview(BaseModel):
    signup: Literal["open", "invite", "closed"]
    default_bookmark_quota: int = Field(description="FUZE_MAX_BOOKMARKS_PER_USER (0: none).")
    default_archive_quota_bytes: int = Field(description="FUZE_MAX_ARCHIVE_BYTES_PER_USER.")
    users: int
    admins: int
    disabled_users: int
    bookmarks: int
    bookmarks_in_progress: int = Field(description="Saved pages still being processed.")
    failed_bookmarks: int
    database_bytes: int
    queues: list[QueueUse]
    jobs_in_progress: int | None = Field(description="Jobs a worker is running; null: unknown.")
    workers_alive: int | None = Field(description="Workers with a recent heartbeat.")
