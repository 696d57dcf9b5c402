from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from app import gemini
from app.deps import CurrentCredential, CurrentUser, RedisDep, SessionDep, SettingsDep
from app.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
    Unprocessable,
    responses,
)
from app.users import service
from app.users.schemas import (
    AIProviderIn,
    AIProviderSaved,
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenOut,
    GeminiKeyIn,
    GeminiKeySaved,
    GeminiKeyTestResult,
    UserOut,
    UserUpdate,
)

router = APIRouter(prefix="/users/me", tags=["users"], responses=responses(Unauthorized))


@router.get("", response_model=UserOut, summary="Your profile")
async def get_me(
    user: CurrentUser, credential: CurrentCredential, settings: SettingsDep
) -> UserOut:
    return UserOut.model_validate(user).model_copy(
        update={"access": credential.scope, **service.profile(settings, user)}
    )


@router.put(
    "/ai-provider",
    response_model=AIProviderSaved,
    summary="Use an OpenAI-compatible endpoint or Ollama for your analyses instead of Gemini",
    description="The endpoint is asked first (its model list, or Ollama's model): a refusal "
    "is a 422 (`ai_provider_refused`) and nothing is stored. The key is kept encrypted and "
    "never returned. Your saved pages without an analysis are then analysed with it.",
    responses=responses(Unprocessable),
)
async def put_ai_provider(
    data: AIProviderIn,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    redis: RedisDep,
) -> AIProviderSaved:
    state, message, queued = await service.store_ai_provider(session, settings, redis, user, data)
    return AIProviderSaved(state=state, message=message, analysing=queued)  # type: ignore[arg-type]


@router.delete(
    "/ai-provider",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Stop using your own AI provider (back to your Gemini key, or the server's)",
)
async def delete_ai_provider(user: CurrentUser, session: SessionDep) -> Response:
    service.clear_ai_provider(user)
    await session.flush()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.patch(
    "",
    response_model=UserOut,
    summary="Change your display name, email or password (the last two need the current password)",
    responses=responses(Conflict, Unprocessable),
)
async def update_me(
    data: UserUpdate, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> UserOut:
    return UserOut.model_validate(await service.update_profile(session, settings, user, data))


@router.put(
    "/gemini-key",
    response_model=GeminiKeySaved,
    summary="Check your Gemini API key with Gemini, then store it (encrypted at rest, never "
    "shown again) and analyse your saved pages with it",
    description="A key Gemini refuses is a 422 (`gemini_key_refused`) and is not stored. When "
    "Gemini cannot be asked (unreachable, slow, rate-limited) the key is stored and "
    "`key_check.state` is `unverified`.",
    responses=responses(Unprocessable),
)
async def put_gemini_key(
    data: GeminiKeyIn,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    redis: RedisDep,
) -> GeminiKeySaved:
    check, queued = await service.store_gemini_key(session, settings, redis, user, data.api_key)
    return GeminiKeySaved(
        **UserOut.model_validate(user).model_dump(), key_check=check, analysing=queued
    )


@router.delete(
    "/gemini-key", status_code=status.HTTP_204_NO_CONTENT, summary="Forget your Gemini API key"
)
async def delete_gemini_key(user: CurrentUser, session: SessionDep) -> Response:
    service.clear_gemini_key(user)
    await session.flush()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/gemini-key/test",
    response_model=GeminiKeyTestResult,
    summary="Check your stored Gemini key against Gemini",
    responses=responses(BadRequest, ServiceUnavailable),
)
async def test_gemini_key(user: CurrentUser, settings: SettingsDep) -> GeminiKeyTestResult:
    key = service.gemini_key(settings, user)
    if key is None:
        raise BadRequest("No readable Gemini key is stored; add one first.", code="no_gemini_key")
    valid, message = await gemini.check_key(settings, key)
    return GeminiKeyTestResult(valid=valid, message=message)


@router.get("/tokens", response_model=list[ApiTokenOut], summary="Your personal API tokens")
async def list_tokens(user: CurrentUser, session: SessionDep) -> list[ApiTokenOut]:
    return [ApiTokenOut.model_validate(t) for t in await service.list_api_tokens(session, user)]


@router.post(
    "/tokens",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiTokenCreated,
    summary="Create a personal API token (the token is shown only in this answer)",
    responses=responses(Conflict, Unprocessable),
)
async def create_token(
    data: ApiTokenCreate, user: CurrentUser, session: SessionDep
) -> ApiTokenCreated:
    row, raw = await service.create_api_token(session, user, data)
    return ApiTokenCreated(**ApiTokenOut.model_validate(row).model_dump(), token=raw)


@router.delete(
    "/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a personal API token (a token that is not full may revoke only itself)",
    responses=responses(NotFound, Forbidden),
)
async def delete_token(
    token_id: uuid.UUID, user: CurrentUser, credential: CurrentCredential, session: SessionDep
) -> Response:
    if credential.scope != "full" and credential.api_token_id != token_id:
        raise Forbidden(
            "This API token may revoke only itself; other tokens need a full one.",
            code="token_scope",
        )
    await service.delete_api_token(session, user, token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
