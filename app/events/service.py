"""Per-user events over Redis pub/sub, so a client gets them whichever replica it is on; and
the single-use tickets that open a stream without putting a token in its URL."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from app.auth import security
from app.auth.service import Credential
from app.errors import ServiceUnavailable
from app.webhooks.emit import emit, webhook_event

log = logging.getLogger("fuze.events")

TICKET_PREFIX = "fzt_"


def channel(user_id: uuid.UUID | str) -> str:
    return f"fuze:events:{user_id}"


async def publish(redis: Any, user_id: uuid.UUID | str, event: str, data: dict[str, Any]) -> None:
    """Best effort: an event lost while Redis is down is repaired by the next list fetch. The
    events webhooks take go to the user's endpoints too (app/webhooks)."""
    try:
        await redis.publish(
            channel(user_id), json.dumps({"event": event, "data": data}, default=str)
        )
    except Exception as exc:
        log.warning("could not publish an event: %s", exc)
    if hook := webhook_event(event, data):
        await emit(redis, user_id, hook, data)


def _ticket_key(ticket: str) -> str:
    return f"fuze:events:ticket:{security.token_digest(ticket)}"


async def create_ticket(redis: Any, credential: Credential, ttl_seconds: int) -> str:
    """An opaque ticket for one GET /api/events within `ttl_seconds`, standing for the
    credential that asked for it (only its digest is stored)."""
    ticket = security.new_opaque_token(TICKET_PREFIX)
    value = json.dumps(
        {
            "user_id": str(credential.user_id),
            "session_id": str(credential.session_id) if credential.session_id else None,
            "api_token_id": str(credential.api_token_id) if credential.api_token_id else None,
            "expires_at": credential.expires_at,
        }
    )
    try:
        await redis.set(_ticket_key(ticket), value, ex=ttl_seconds)
    except Exception as exc:
        raise _events_unavailable() from exc
    return ticket


async def redeem_ticket(redis: Any, ticket: str) -> Credential | None:
    """The credential a ticket stands for, once: GETDEL spends it whichever process reads it."""
    if not ticket.startswith(TICKET_PREFIX) or len(ticket) > 100:
        return None
    try:
        value = await redis.getdel(_ticket_key(ticket))
    except Exception as exc:
        raise _events_unavailable() from exc
    if value is None:
        return None
    data = json.loads(value)
    return Credential(
        uuid.UUID(data["user_id"]),
        session_id=uuid.UUID(data["session_id"]) if data["session_id"] else None,
        api_token_id=uuid.UUID(data["api_token_id"]) if data["api_token_id"] else None,
        expires_at=data["expires_at"],
    )


def _events_unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(
        "Live events are unavailable right now; try again in a moment.",
        code="events_unavailable",
        headers={"Retry-After": "5"},
    )
