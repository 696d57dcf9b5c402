"""What administrators do: look after accounts (list, create, disable, promote, limit,
delete), hand out invite codes, and see how much the server holds and has queued."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from arq.constants import default_queue_name, in_progress_key_prefix
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.models import Invite
from app.admin.schemas import (
    AdminUserCreate,
    AdminUserOut,
    AdminUserPage,
    AdminUserUpdate,
    InviteCreate,
    Overview,
    QueueUse,
)
from app.auth import security
from app.auth import service as auth_service
from app.bookmarks.pipeline import IMPORT_QUEUE
from app.config import Settings
from app.errors import Conflict, NotFound
from app.health.service import WORKERS_KEY
from app.users.models import User

log = logging.getLogger("fuze.admin")

INVITE_PREFIX = "fzi_"

# One row per user with what they hold. The sizes are those stored (compressed, as TOAST
# keeps them: pg_column_size reads a value's header, not the value).
_USERS = """
SELECT u.id, u.username, u.email, u.display_name, u.created_at, u.is_admin, u.disabled_at,
       u.bookmark_quota, u.archive_quota_bytes,
       coalesce(b.bookmarks, 0) AS bookmarks,
       coalesce(b.failed, 0) AS failed_bookmarks,
       coalesce(b.bytes, 0) AS storage_bytes,
       greatest(
           (SELECT max(r.created_at) FROM refresh_tokens r WHERE r.user_id = u.id),
           (SELECT max(a.last_used_at) FROM api_tokens a WHERE a.user_id = u.id)
       ) AS last_seen_at
FROM users u
LEFT JOIN LATERAL (
    SELECT count(*) AS bookmarks,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           sum(coalesce(pg_column_size(text), 0) + coalesce(pg_column_size(html), 0)
               + coalesce(pg_column_size(metadata), 0)) AS bytes
    FROM bookmarks WHERE user_id = u.id
) b ON true
WHERE {where}
ORDER BY u.created_at, u.id
LIMIT :limit OFFSET :offset
"""
_MATCH = "(CAST(:q AS text) IS NULL OR u.username ILIKE :q OR u.email ILIKE :q)"


async def list_users(
    session: AsyncSession, q: str | None, limit: int, offset: int, user_id: uuid.UUID | None = None
) -> AdminUserPage:
    pattern = None
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    where = "u.id = :user_id" if user_id is not None else _MATCH
    params: dict[str, Any] = {"q": pattern, "limit": limit, "offset": offset, "user_id": user_id}
    rows = await session.execute(text(_USERS.format(where=where)), params)
    items = [AdminUserOut(**row._mapping) for row in rows]
    total = await session.scalar(
        text(f"SELECT count(*) FROM users u WHERE {where}"),
        {"q": pattern, "user_id": user_id},
    )
    return AdminUserPage(items=items, total=total or 0)


async def user_out(session: AsyncSession, user_id: uuid.UUID) -> AdminUserOut:
    page = await list_users(session, None, 1, 0, user_id=user_id)
    if not page.items:
        raise NotFound("No such user.", code="user_not_found")
    return page.items[0]


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.", code="user_not_found")
    return user


async def create_user(session: AsyncSession, settings: Settings, data: AdminUserCreate) -> User:
    """An account made by an administrator, whatever the sign-up policy."""
    return await auth_service.create_user(session, settings, data, is_admin=data.is_admin)


async def _refuse_losing_last_admin(session: AsyncSession, target: User) -> None:
    """An account change that would leave the server without an active administrator is
    refused. The active administrators' rows are locked, so two administrators demoting each
    other at once cannot both pass."""
    admins = list(
        await session.scalars(
            select(User.id)
            .where(User.is_admin.is_(True), User.disabled_at.is_(None))
            .with_for_update()
        )
    )
    if admins == [target.id]:
        raise Conflict(
            "This is the only active administrator; make another administrator first.",
            code="last_admin",
        )


async def update_user(session: AsyncSession, target: User, data: AdminUserUpdate) -> None:
    fields = data.model_fields_set
    losing_admin = (data.disabled is True and target.is_active) or (
        data.is_admin is False and target.is_admin
    )
    if losing_admin and target.is_admin and target.is_active:
        await _refuse_losing_last_admin(session, target)
    if data.disabled is True and target.disabled_at is None:
        target.disabled_at = datetime.now(UTC)
        # Access and API tokens stop at the next request (authentication reads disabled_at
        # with the user); refresh tokens are spent for good, so enabling the account again
        # does not bring its old sessions back.
        await auth_service.revoke_all_sessions(session, target.id)
        log.info("user disabled", extra={"target_user_id": str(target.id)})
    elif data.disabled is False and target.disabled_at is not None:
        target.disabled_at = None
        log.info("user enabled", extra={"target_user_id": str(target.id)})
    if data.is_admin is not None:
        target.is_admin = data.is_admin
    if "bookmark_quota" in fields:
        target.bookmark_quota = data.bookmark_quota
    if "archive_quota_bytes" in fields:
        target.archive_quota_bytes = data.archive_quota_bytes
    await session.flush()


async def delete_user(session: AsyncSession, admin: User, target: User) -> None:
    if target.id == admin.id:
        raise Conflict("You cannot delete your own account here.", code="cannot_delete_self")
    if target.is_admin and target.is_active:
        await _refuse_losing_last_admin(session, target)
    await session.delete(target)
    await session.flush()
    log.info("user deleted", extra={"target_user_id": str(target.id)})


def invite_state(invite: Invite, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    if invite.revoked_at is not None:
        return "revoked"
    if invite.uses >= invite.max_uses:
        return "used"
    if invite.expires_at is not None and invite.expires_at <= now:
        return "expired"
    return "active"


async def list_invites(session: AsyncSession) -> list[Invite]:
    rows = await session.scalars(select(Invite).order_by(Invite.created_at.desc()).limit(500))
    return list(rows)


async def create_invite(
    session: AsyncSession, admin: User, data: InviteCreate
) -> tuple[Invite, str]:
    code = security.new_opaque_token(INVITE_PREFIX)
    now = datetime.now(UTC)
    invite = Invite(
        code_hash=security.token_digest(code),
        prefix=code[:10],
        note=data.note,
        max_uses=data.max_uses,
        uses=0,
        created_by=admin.id,
        created_at=now,
        expires_at=now + timedelta(days=data.expires_in_days) if data.expires_in_days else None,
    )
    session.add(invite)
    await session.flush()
    return invite, code


async def revoke_invite(session: AsyncSession, invite_id: uuid.UUID) -> None:
    invite = await session.get(Invite, invite_id)
    if invite is None:
        raise NotFound("No such invite.", code="invite_not_found")
    if invite.revoked_at is None:
        invite.revoked_at = datetime.now(UTC)
        await session.flush()


_TOTALS = """
SELECT (SELECT count(*) FROM users) AS users,
       (SELECT count(*) FROM users WHERE is_admin) AS admins,
       (SELECT count(*) FROM users WHERE disabled_at IS NOT NULL) AS disabled_users,
       (SELECT count(*) FROM bookmarks) AS bookmarks,
       (SELECT count(*) FROM bookmarks
         WHERE status IN ('pending', 'fetching', 'extracting', 'embedding')) AS in_progress,
       (SELECT count(*) FROM bookmarks WHERE status = 'failed') AS failed,
       pg_database_size(current_database()) AS database_bytes
"""
QUEUES = (("pipeline", default_queue_name), ("imports", IMPORT_QUEUE))


async def _queue_use(
    redis: Any, settings: Settings
) -> tuple[list[QueueUse], int | None, int | None]:
    """Each queue's waiting jobs, the jobs running and the live workers, from Valkey; empty
    figures (None) when it cannot be read."""
    now_ms = int(time.time() * 1000)
    try:
        async with asyncio.timeout(3):
            async with redis.pipeline(transaction=False) as pipe:
                for _, key in QUEUES:
                    pipe.zcard(key).zcount(key, "-inf", now_ms)
                pipe.zcount(
                    WORKERS_KEY, time.time() - settings.worker_heartbeat_ttl_seconds, "+inf"
                )
                counts = await pipe.execute()
            running = 0
            async for _ in redis.scan_iter(match=in_progress_key_prefix + "*", count=1000):
                running += 1
    except Exception:
        log.warning("queue figures unavailable", exc_info=True)
        return [], None, None
    queues = []
    for i, (name, _) in enumerate(QUEUES):
        total, due = int(counts[2 * i]), int(counts[2 * i + 1])
        queues.append(QueueUse(name=name, ready=due, deferred=total - due))
    return queues, running, int(counts[-1])


async def overview(session: AsyncSession, redis: Any, settings: Settings) -> Overview:
    row = (await session.execute(text(_TOTALS))).one()
    queues, running, workers = await _queue_use(redis, settings)
    return Overview(
        signup=settings.signup_policy,
        default_bookmark_quota=settings.max_bookmarks_per_user,
        default_archive_quota_bytes=settings.max_archive_bytes_per_user,
        users=row.users,
        admins=row.admins,
        disabled_users=row.disabled_users,
        bookmarks=row.bookmarks,
        bookmarks_in_progress=row.in_progress,
        failed_bookmarks=row.failed,
        database_bytes=row.database_bytes,
        queues=queues,
        jobs_in_progress=running,
        workers_alive=workers,
    )
