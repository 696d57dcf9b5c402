from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from app.auth import service
from app.auth.schemas import (
    AuthConfig,
    LoginRequest,
    LogoutRequest,
    RefreshRequest,
    RegisterRequest,
    TokenPair,
)
from app.deps import LimiterDep, SessionDep, SettingsDep, rate_limit_auth, system_scope
from app.errors import Conflict, Forbidden, TooManyRequests, Unauthorized, Unprocessable, responses
from app.users.schemas import UserOut

router = APIRouter(
    prefix="/auth",
    tags=["auth"],
    dependencies=[Depends(rate_limit_auth), Depends(system_scope)],
)


@router.get(
    "/config",
    response_model=AuthConfig,
    summary="How accounts are made here (the sign-up policy), for the sign-up form",
    responses=responses(TooManyRequests),
)
async def config(session: SessionDep, settings: SettingsDep) -> AuthConfig:
    return AuthConfig(
        signup=settings.signup_policy, first_account=await service.no_account_yet(session)
    )


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    summary="Create an account (the server's first becomes its administrator)",
    responses=responses(Forbidden, Conflict, Unprocessable, TooManyRequests),
)
async def register(data: RegisterRequest, session: SessionDep, settings: SettingsDep) -> UserOut:
    user = await service.register(session, settings, data)
    return UserOut.model_validate(user)


@router.post(
    "/login",
    response_model=TokenPair,
    summary="Sign in with a username or email and a password",
    responses=responses(Unauthorized, Unprocessable, TooManyRequests),
)
async def login(
    data: LoginRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
) -> TokenPair:
    return await service.login(
        session, settings, limiter, data.login, data.password, request.headers.get("user-agent")
    )


@router.post(
    "/token",
    response_model=TokenPair,
    summary="Sign in with an OAuth2 password form (the docs' Authorize button)",
    responses=responses(Unauthorized, Unprocessable, TooManyRequests),
)
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
) -> TokenPair:
    return await service.login(
        session, settings, limiter, form.username, form.password, request.headers.get("user-agent")
    )


@router.post(
    "/refresh",
    response_model=TokenPair,
    summary="Trade a refresh token for a new pair (the old one is spent)",
    responses=responses(Unauthorized, Unprocessable, TooManyRequests),
)
async def refresh(
    data: RefreshRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> TokenPair:
    return await service.refresh(
        session, settings, data.refresh_token, request.headers.get("user-agent")
    )


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Sign out: revoke this refresh token and every token rotated from the same login",
    responses=responses(Unprocessable, TooManyRequests),
)
async def logout(data: LogoutRequest, session: SessionDep) -> Response:
    await service.logout(session, data.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
