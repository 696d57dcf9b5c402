from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from app.deps import RedisDep, StreamUser
from app.errors import Unauthorized, responses
from app.events.service import channel

router = APIRouter(tags=["events"])

KEEPALIVE_SECONDS = 15.0


async def _stream(request: Request, redis: object, user_id: str) -> AsyncIterator[bytes]:
    yield b"retry: 3000\n\n"
    pubsub = None
    try:
        pubsub = redis.pubsub()  # type: ignore[attr-defined]
        await pubsub.subscribe(channel(user_id))
        yield b": connected\n\n"
        while not await request.is_disconnected():
            message = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=KEEPALIVE_SECONDS
            )
            if message is None:
                yield b": keep-alive\n\n"
                continue
            payload = json.loads(message["data"])
            body = json.dumps(payload["data"], separators=(",", ":"))
            yield f"event: {payload['event']}\ndata: {body}\n\n".encode()
    except (TimeoutError, ConnectionError, OSError) as exc:
        # Redis went away: tell the client, which reconnects after `retry`.
        yield f"event: error\ndata: {json.dumps({'message': str(exc)})}\n\n".encode()
    except Exception as exc:  # redis-py raises its own ConnectionError subclasses
        yield f"event: error\ndata: {json.dumps({'message': type(exc).__name__})}\n\n".encode()
    finally:
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()


@router.get(
    "/events",
    summary="Server-sent events: your bookmarks' status changes and import progress",
    response_class=StreamingResponse,
    responses={
        **responses(Unauthorized),
        200: {"content": {"text/event-stream": {}}, "description": "An event stream."},
    },
)
async def events(request: Request, user: StreamUser, redis: RedisDep) -> StreamingResponse:
    return StreamingResponse(
        _stream(request, redis, str(user.id)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
