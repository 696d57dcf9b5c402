"""Webhooks: endpoints (made, changed, paused, resumed, deleted), the events that reach them,
signing, and the delivery log.

An event happens (app.events.service.publish names it); if the user has endpoints (a Redis
set says so without a database read), a worker job records one delivery per endpoint that
wants it and sends each (app/webhooks/jobs.py). A delivery is signed as Stripe and GitHub sign
theirs: `Fuze-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the
endpoint's secret>`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app import cursors
from app.auth import security
from app.config import Settings
from app.db import utcnow
from app.errors import NotFound, Unprocessable
from app.extraction.fetch import FetchError, parse_url
from app.users.models import User
from app.webhooks.emit import USERS_KEY
from app.webhooks.models import WebhookDelivery, WebhookEndpoint
from app.webhooks.schemas import WebhookCreate, WebhookOut, WebhookUpdate

log = logging.getLogger("fuze.webhooks")

SECRET_PREFIX = "whsec_"
MAX_PER_USER = 20


def check_url(settings: Settings, url: str) -> str:
    try:
        parsed = parse_url(url)
    except FetchError as exc:
        raise Unprocessable(exc.message, code="invalid_url") from exc
    if parsed.scheme != "https" and not settings.allow_private_networks:
        raise Unprocessable(
            "A webhook address must be https: deliveries carry your data.", code="invalid_url"
        )
    return str(parsed)


def to_out(row: WebhookEndpoint) -> WebhookOut:
    return WebhookOut(
        id=row.id, url=row.url, description=row.description, events=row.events,
        active=row.active, paused_reason=row.paused_reason,
        consecutive_failures=row.consecutive_failures, created_at=row.created_at,
        last_success_at=row.last_success_at, last_failure_at=row.last_failure_at,
    )  # fmt: skip


async def mark_user(redis: Any, session: AsyncSession, user_id: uuid.UUID) -> None:
    """Keep the Redis set of users with an active endpoint right for this user."""
    active = await session.scalar(
        select(WebhookEndpoint.id)
        .where(WebhookEndpoint.user_id == user_id, WebhookEndpoint.active.is_(True))
        .limit(1)
    )
    try:
        if active:
            await redis.sadd(USERS_KEY, str(user_id))
        else:
            await redis.srem(USERS_KEY, str(user_id))
    except Exception:  # the sweeper rebuilds the set (jobs.refresh_users)
        log.warning("could not update the webhook users set", exc_info=True)


async def create(
    session: AsyncSession, settings: Settings, user: User, data: WebhookCreate
) -> tuple[WebhookEndpoint, str]:
    count = len(
        list(
            await session.scalars(
                select(WebhookEndpoint.id).where(WebhookEndpoint.user_id == user.id)
            )
        )
    )
    if (count or 0) >= MAX_PER_USER:
        raise Unprocessable(f"At most {MAX_PER_USER} webhooks.", code="too_many_webhooks")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    row = WebhookEndpoint(
        id=uuid.uuid4(), user_id=user.id, url=check_url(settings, data.url),
        description=data.description, events=list(data.events),
        secret_encrypted=security.encrypt_secret(settings, secret), active=True,
        consecutive_failures=0, created_at=utcnow(),
    )  # fmt: skip
    session.add(row)
    await session.flush()
    return row, secret


async def list_for(session: AsyncSession, user: User) -> list[WebhookEndpoint]:
    return list(
        await session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.user_id == user.id)
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
        )
    )


async def get_owned(session: AsyncSession, user: User, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    row = await session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id, WebhookEndpoint.user_id == user.id
        )
    )
    if row is None:
        raise NotFound("No such webhook.", code="webhook_not_found")
    return row


async def update(
    session: AsyncSession, settings: Settings, row: WebhookEndpoint, data: WebhookUpdate
) -> WebhookEndpoint:
    if data.url is not None:
        row.url = check_url(settings, data.url)
    if data.events is not None:
        row.events = list(data.events)
    if "description" in data.model_fields_set:
        row.description = data.description
    if data.active is True:
        row.active, row.paused_reason, row.consecutive_failures = True, None, 0
    elif data.active is False:
        row.active, row.paused_reason = False, None
    await session.flush()
    return row


def secret_of(settings: Settings, row: WebhookEndpoint) -> str:
    secret = security.decrypt_secret(settings, row.secret_encrypted)
    if secret is None:
        raise RuntimeError("the webhook secret cannot be decrypted with this server's key")
    return secret


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """What a receiver does (docs/webhooks.md has it for others to copy): the signature
    matches and is recent (a replayed old delivery is refused)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def payload(delivery_id: uuid.UUID, event: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(delivery_id),
        "event": event,
        "created_at": utcnow().isoformat(),
        "data": data,
    }


def body_of(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=str).encode()


# --- the delivery log -------------------------------------------------------------------------


async def deliveries(
    session: AsyncSession, row: WebhookEndpoint, cursor: str | None, limit: int
) -> tuple[list[WebhookDelivery], str | None]:
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == row.id)
    if cursor:
        after = cursors.decode_created(cursor)
        query = query.where(tuple_(WebhookDelivery.created_at, WebhookDelivery.id) < after)
    rows = list(
        await session.scalars(
            query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(
                limit + 1
            )
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (cursors.encode_created(rows[-1].created_at, rows[-1].id) if more else None)
