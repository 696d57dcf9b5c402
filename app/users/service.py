from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import object_session

from app import llm
from app.analysis import service as analysis_service
from app.auth import security
from app.auth import service as auth_service
from app.auth.models import ApiToken
from app.config import Settings
from app.db import enqueue_after_commit
from app.errors import Conflict, NotFound, Unauthorized, Unprocessable
from app.users.models import User
from app.users.schemas import ApiTokenCreate, GeminiKeyCheck, UserUpdate

MAX_API_TOKENS = 50


async def update_profile(
    session: AsyncSession, settings: Settings, user: User, data: UserUpdate
) -> User:
    if data.current_password is not None:
        valid, _ = await asyncio.to_thread(
            security.verify_password, settings, data.current_password, user.password_hash
        )
        if not valid:
            raise Unauthorized("The current password is wrong.", code="invalid_credentials")
    if "display_name" in data.model_fields_set:
        user.display_name = data.display_name
    if data.email and data.email.lower() != user.email.lower():
        clash = await session.scalar(
            select(User.id).where(func.lower(User.email) == data.email.lower(), User.id != user.id)
        )
        if clash:
            raise Conflict("An account with this email exists.", code="email_taken")
        user.email = data.email
    if data.new_password:
        user.password_hash = await asyncio.to_thread(
            security.hash_password, settings, data.new_password
        )
        # A new password signs every session out, this one included (the web app signs in
        # again with the new password); personal API tokens stay until deleted.
        await auth_service.revoke_all_sessions(session, user.id)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("An account with this email exists.", code="email_taken") from exc
    return user


async def store_gemini_key(
    session: AsyncSession, settings: Settings, redis: Any, user: User, api_key: str
) -> tuple[GeminiKeyCheck, int]:
    """Asks Gemini about the key first: a refused key is not stored (and starts no backlog
    pass); one Gemini could not be asked about is stored, and the answer says so. Returns
    the check and how many saved pages the backlog pass will analyse."""
    check = await analysis_service.check_key(settings, api_key)
    if check.state == "refused":
        raise Unprocessable(check.message, code="gemini_key_refused")
    if check.state == "ok":
        await analysis_service.forget_refused(redis, user.id, api_key)
    set_gemini_key(settings, user, api_key)
    await session.flush()
    queued = await analysis_service.backlog_size(session, user.id)
    return GeminiKeyCheck(state=check.state, message=check.message), queued


def set_gemini_key(settings: Settings, user: User, api_key: str) -> None:
    user.gemini_key_encrypted = security.encrypt_secret(settings, api_key)
    user.gemini_key_last4 = api_key[-4:]
    # Once committed: analyse the bookmarks (and project intents) saved without a key.
    session = object_session(user)
    if session is not None:
        enqueue_after_commit(
            session,  # type: ignore[arg-type]  (only its .info is used)
            "analyse_backlog",
            str(user.id),
            _job_id=f"analyse_backlog:{user.id}",
        )


DEFAULT_BASE = {"openai": "https://api.openai.com/v1", "ollama": "http://127.0.0.1:11434"}


async def store_ai_provider(
    session: AsyncSession, settings: Settings, redis: Any, user: User, data: Any
) -> tuple[str, str, int]:
    """Asks the endpoint first (its model list, or Ollama's model): a refusal is a 422 and
    nothing is stored; an endpoint that cannot be asked is stored, and the answer says so.
    Then the saved pages without an analysis are analysed with it."""
    base = (data.base_url or DEFAULT_BASE[data.provider]).rstrip("/")
    if not re.match(r"^https?://[^\s/]+", base):
        raise Unprocessable("The endpoint must be an http(s) address.", code="invalid_url")
    provider = llm.Provider(data.provider, data.model, data.api_key, base)
    state, message = await llm.check(provider, min(settings.gemini_timeout_seconds, 10.0))
    if state == "refused":
        raise Unprocessable(message, code="ai_provider_refused")
    user.llm_provider, user.llm_base_url, user.llm_model = data.provider, base, data.model
    user.llm_key_encrypted = (
        security.encrypt_secret(settings, data.api_key) if data.api_key else None
    )
    user.llm_key_last4 = data.api_key[-4:] if data.api_key else None
    await analysis_service.forget_refused(redis, user.id, provider.ident)
    await session.flush()
    enqueue_after_commit(
        session, "analyse_backlog", str(user.id), _job_id=f"analyse_backlog:{user.id}"
    )
    return state, message, await analysis_service.backlog_size(session, user.id)


def clear_ai_provider(user: User) -> None:
    user.llm_provider = user.llm_base_url = user.llm_model = None
    user.llm_key_encrypted = None
    user.llm_key_last4 = None


def profile(settings: Settings, user: User) -> dict[str, Any]:
    """What UserOut shows beyond the user's columns: their own AI, the server's."""
    own = (
        {"provider": user.llm_provider, "base_url": user.llm_base_url,
         "model": user.llm_model or "", "key_last4": user.llm_key_last4}
        if user.llm_provider else None
    )  # fmt: skip
    return {"ai_provider": own, "server_ai": settings.llm_provider}


def clear_gemini_key(user: User) -> None:
    user.gemini_key_encrypted = None
    user.gemini_key_last4 = None


def gemini_key(settings: Settings, user: User) -> str | None:
    if user.gemini_key_encrypted is None:
        return None
    return security.decrypt_secret(settings, user.gemini_key_encrypted)


async def list_api_tokens(session: AsyncSession, user: User) -> list[ApiToken]:
    rows = await session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc())
    )
    return list(rows)


async def create_api_token(
    session: AsyncSession, user: User, data: ApiTokenCreate
) -> tuple[ApiToken, str]:
    count = await session.scalar(select(func.count()).where(ApiToken.user_id == user.id))
    if (count or 0) >= MAX_API_TOKENS:
        raise Conflict(
            f"You already have {MAX_API_TOKENS} API tokens; delete one first.",
            code="too_many_tokens",
        )
    raw = security.new_opaque_token(security.API_TOKEN_PREFIX)
    expires = (
        datetime.now(UTC) + timedelta(days=data.expires_in_days) if data.expires_in_days else None
    )
    row = ApiToken(
        user_id=user.id,
        name=data.name,
        prefix=raw[:12],
        token_hash=security.token_digest(raw),
        expires_at=expires,
        created_at=datetime.now(UTC),
        scope=data.scope,
    )
    session.add(row)
    await session.flush()
    return row, raw


async def delete_api_token(session: AsyncSession, user: User, token_id: uuid.UUID) -> None:
    row = await session.scalar(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id)
    )
    if row is None:
        raise NotFound("No such API token.")
    await session.delete(row)
    await session.flush()
    auth_service.sessions_changed(session, user.id)  # close streams opened with it
