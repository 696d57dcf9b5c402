"""Annotated dependency aliases, so routes read `session: SessionDep, user: CurrentUser`."""

from __future__ import annotations

import time
from typing import Annotated

from arq.connections import ArqRedis
from fastapi import Depends, Query, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import scopes
from app.auth import service as auth_service
from app.auth.service import Authenticated, Credential
from app.config import Settings
from app.db import AUTHENTICATED, REQUEST_SESSION, ReadPool, bind_system, get_session
from app.errors import Forbidden, Unauthorized
from app.events import service as events_service
from app.logs import user_id_var
from app.ratelimit import RateLimiter
from app.users.models import User

SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

# The small dependencies below are `async def` though they never wait: FastAPI runs a plain
# `def` dependency in a worker thread, a hand-off that cost about 0.2 ms each. The ones every
# request resolves (the per-IP limit, the user) read the app's settings, pools and limiter
# from `request.app.state` themselves: each dependency FastAPI resolves costs its own
# bookkeeping (about 20 µs of CPU), on every request.


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def get_reads(request: Request) -> ReadPool:
    return request.app.state.reads


ReadsDep = Annotated[ReadPool, Depends(get_reads)]


async def get_redis(request: Request) -> ArqRedis:
    return request.app.state.redis


RedisDep = Annotated[ArqRedis, Depends(get_redis)]


async def get_limiter(request: Request) -> RateLimiter:
    return request.app.state.limiter


LimiterDep = Annotated[RateLimiter, Depends(get_limiter)]


def client_host(request: Request) -> str:
    # Behind a load balancer uvicorn's --proxy-headers puts the real client here.
    return request.client.host if request.client else "unknown"


oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/api/auth/token",
    auto_error=False,
    description="An access token from /api/auth/login or a personal API token (fza_...).",
)


async def rate_limit_ip(request: Request) -> None:
    settings: Settings = request.app.state.settings
    if settings.rate_limit_enabled:
        limiter: RateLimiter = request.app.state.limiter
        await limiter.check(f"ip:{client_host(request)}", settings.rate_limit_ip_per_minute, 60)


async def rate_limit_auth(request: Request) -> None:
    """Stricter per-IP limit on the endpoints that guess passwords or create accounts."""
    settings: Settings = request.app.state.settings
    if settings.rate_limit_enabled:
        limiter: RateLimiter = request.app.state.limiter
        await limiter.check(
            f"auth:{client_host(request)}",
            settings.rate_limit_auth_ip_per_minute,
            60,
            what="sign-in attempts",
        )


async def _authenticate(request: Request, token: str | None) -> Authenticated:
    if not token:
        raise Unauthorized(
            "Sign in first: send `Authorization: Bearer <token>`.", code="not_authenticated"
        )
    state = request.app.state
    settings: Settings = state.settings
    found = await auth_service.user_from_token(state.reads, settings, token)
    user_id_var.set(str(found.user.id))
    if settings.rate_limit_enabled:
        await state.limiter.check(f"user:{found.user.id}", settings.rate_limit_user_per_minute, 60)
    await auth_service.record_token_use(state.sessionmaker, found)
    request.scope[AUTHENTICATED] = found
    session = request.scope.get(REQUEST_SESSION)
    if session is not None:  # opened before the user was known
        await found.attach_to(session)
    return found


async def current_user(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> User:
    """The signed-in user. No ORM session of its own: a route that declares one
    (SessionDep) gets it with this user in it."""
    found = await _authenticate(request, token)
    credential = found.credential
    if credential.scope != "full":
        route = request.scope.get("route")
        # The route's template (its ids as {placeholders}); routers' paths leave out /api.
        path = getattr(route, "path", request.url.path)
        path = path if path.startswith("/api/") else "/api" + path
        if not scopes.allows(credential.scope, request.method, path):
            needs = scopes.needed(request.method, path)
            raise Forbidden(
                f"This API token may only {'read' if credential.scope == 'read' else 'read and write'};"
                f" this needs a token with the {needs} scope.",
                code="token_scope",
            )
    return found.user


CurrentUser = Annotated[User, Depends(current_user)]


async def current_credential(request: Request, _: CurrentUser) -> Credential:
    """What authenticated this request (after current_user has read it)."""
    found: Authenticated = request.scope[AUTHENTICATED]
    return found.credential


CurrentCredential = Annotated[Credential, Depends(current_credential)]


async def stream_credential(
    request: Request,
    reads: ReadsDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    redis: RedisDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    ticket: Annotated[
        str | None,
        Query(
            max_length=100,
            description="For EventSource, which cannot send headers: a single-use ticket from"
            " POST /api/events/ticket.",
        ),
    ] = None,
    access_token: Annotated[str | None, Query(include_in_schema=False)] = None,
) -> Credential:
    """An events stream is opened with a bearer header or a stream ticket, never with a token
    in its URL (URLs end up in logs, proxies and the browser's history)."""
    if access_token is not None:
        raise Unauthorized(
            "Tokens are not accepted in URLs: open the stream with a ticket from"
            " POST /api/events/ticket, or send `Authorization: Bearer <token>`.",
            code="token_in_url",
        )
    if token or not ticket:
        return (await _authenticate(request, token)).credential
    credential = await events_service.redeem_ticket(redis, ticket)
    if credential is None:
        raise Unauthorized(
            "This stream ticket is not valid: it expired or was already used.",
            code="invalid_ticket",
        )
    expired = credential.expires_at is not None and credential.expires_at <= time.time()
    if expired or not await auth_service.credential_stands(reads, credential):
        raise auth_service.SessionEnded()
    user_id_var.set(str(credential.user_id))
    if settings.rate_limit_enabled:
        await limiter.check(f"user:{credential.user_id}", settings.rate_limit_user_per_minute, 60)
    return credential


StreamCredential = Annotated[Credential, Depends(stream_credential)]


async def admin_user(user: CurrentUser, session: SessionDep) -> User:
    if not user.is_admin:
        raise Forbidden("Only an administrator may do this.", code="admin_only")
    # Administration works across accounts: the one scope of the API that does, once the
    # caller is known to be an administrator.
    await bind_system(session)
    return user


AdminUser = Annotated[User, Depends(admin_user)]


async def system_scope(session: SessionDep) -> None:
    """For the routes that act before anyone is signed in (sign-up, sign-in, refresh,
    logout): they look accounts and tokens up across users."""
    await bind_system(session)
