from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from app.auth import service as auth_service
from app.auth.service import Credential
from app.config import Settings
from app.db import ReadPool
from app.deps import (
    CurrentCredential,
    ReadsDep,
    RedisDep,
    SettingsDep,
    StreamCredential,
)
from app.errors import ServiceUnavailable, Unauthorized, Unprocessable, responses
from app.events import service
from app.events.schemas import StreamTicket

router = APIRouter(tags=["events"])

KEEPALIVE_SECONDS = 15.0


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def _stream(
    request: Request, redis: Any, reads: ReadPool, settings: Settings, credential: Credential
) -> AsyncIterator[bytes]:
    """The user's events until the client leaves or the credential ends: it expires, or its
    session or API token is revoked (checked on each message of the user's sessions channel
    and every `events_recheck_seconds`). The last event, `session.ended`, says which."""
    yield b"retry: 3000\n\n"
    clock = asyncio.get_running_loop().time
    sessions = auth_service.sessions_channel(credential.user_id).encode()
    pubsub = None
    try:
        pubsub = redis.pubsub()
        await pubsub.subscribe(service.channel(credential.user_id), sessions)
        yield b": connected\n\n"
        recheck_at = last_write = clock()
        recheck_at += settings.events_recheck_seconds
        while not await request.is_disconnected():
            left = (
                credential.expires_at - time.time()
                if credential.expires_at is not None
                else float("inf")
            )
            if left <= 0:
                yield _event("session.ended", {"reason": "expired"})
                return
            if clock() >= recheck_at:
                if not await auth_service.credential_stands(reads, credential):
                    yield _event("session.ended", {"reason": "revoked"})
                    return
                recheck_at = clock() + settings.events_recheck_seconds
            if clock() - last_write >= KEEPALIVE_SECONDS:
                yield b": keep-alive\n\n"
                last_write = clock()
            wait = min(KEEPALIVE_SECONDS - (clock() - last_write), recheck_at - clock(), left)
            message = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=max(wait, 0.01)
            )
            if message is None:
                continue
            if message["channel"] == sessions:
                recheck_at = clock()  # a session of this user ended: is it this one?
                continue
            payload = json.loads(message["data"])
            yield _event(payload["event"], payload["data"])
            last_write = clock()
    except (TimeoutError, ConnectionError, OSError) as exc:
        # Redis went away: tell the client, which reconnects after `retry`.
        yield _event("error", {"message": str(exc)})
    except Exception as exc:  # redis-py raises its own ConnectionError subclasses
        yield _event("error", {"message": type(exc).__name__})
    finally:
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()


@router.post(
    "/events/ticket",
    response_model=StreamTicket,
    summary="A single-use ticket that opens GET /api/events (EventSource cannot send headers)",
    responses=responses(Unauthorized, ServiceUnavailable),
)
async def create_ticket(
    credential: CurrentCredential, redis: RedisDep, settings: SettingsDep
) -> StreamTicket:
    ttl = settings.events_ticket_ttl_seconds
    return StreamTicket(ticket=await service.create_ticket(redis, credential, ttl), expires_in=ttl)


@router.get(
    "/events",
    summary="Server-sent events: your bookmarks' status changes and import progress, until"
    " your session ends",
    response_class=StreamingResponse,
    responses={
        **responses(Unauthorized, Unprocessable, ServiceUnavailable),
        200: {"content": {"text/event-stream": {}}, "description": "An event stream."},
    },
)
async def events(
    request: Request,
    credential: StreamCredential,
    redis: RedisDep,
    reads: ReadsDep,
    settings: SettingsDep,
) -> StreamingResponse:
    return StreamingResponse(
        _stream(request, redis, reads, settings, credential),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
