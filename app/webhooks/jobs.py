"""The worker's webhook jobs: record an event's deliveries (one per endpoint that wants it),
send each, signed, through the SSRF-safe fetcher, try a failed one again with growing waits
(settings.webhook_retry_seconds), and pause an endpoint whose deliveries keep failing, telling
its owner (an event on their stream, and the reason on the endpoint)."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select

from app.db import bind_system, bind_user, utcnow
from app.events import service as events
from app.extraction.fetch import FetchError, post_json
from app.webhooks import service
from app.webhooks.emit import USERS_KEY
from app.webhooks.models import WebhookDelivery, WebhookEndpoint

log = logging.getLogger("fuze.webhooks")

USER_AGENT = "Fuze-Webhooks/1"


async def webhook_event(ctx: dict[str, Any], user_id: str, event: str, data: dict[str, Any]) -> str:
    uid = uuid.UUID(user_id)
    async with ctx["sessionmaker"]() as session:
        await bind_user(session, uid)
        endpoints = list(
            await session.scalars(
                select(WebhookEndpoint).where(
                    WebhookEndpoint.user_id == uid,
                    WebhookEndpoint.active.is_(True),
                    WebhookEndpoint.events.any(event),
                )
            )
        )
        rows = []
        for endpoint in endpoints:
            did = uuid.uuid4()
            rows.append(
                WebhookDelivery(
                    id=did,
                    user_id=uid,
                    endpoint_id=endpoint.id,
                    event=event,
                    payload=service.payload(did, event, data),
                    status="pending",
                    attempts=0,
                    created_at=utcnow(),
                    next_attempt_at=utcnow(),
                )
            )
        session.add_all(rows)
        await session.commit()
    for row in rows:
        await _queue(ctx, row.id, 0, 0)
    return f"{len(rows)} deliveries"


async def _queue(ctx: dict[str, Any], delivery_id: uuid.UUID, attempt: int, delay: float) -> None:
    try:
        await ctx["redis"].enqueue_job(
            "deliver_webhook",
            str(delivery_id),
            _job_id=f"deliver_webhook:{delivery_id}:{attempt}",
            _defer_by=delay or None,
        )
    except Exception:  # the sweeper queues it again
        log.warning("could not queue a webhook delivery", exc_info=True)


def _text(body: bytes) -> str:
    return body.decode("utf-8", "replace")[:2000]


async def deliver_webhook(ctx: dict[str, Any], delivery_id: str) -> str:
    settings = ctx["settings"]
    async with ctx["sessionmaker"]() as session:
        await bind_system(session)
        row = await session.get(WebhookDelivery, uuid.UUID(delivery_id))
        if row is None or row.status not in ("pending", "retrying"):
            return "done"
        await bind_user(session, row.user_id)
        endpoint = await session.get(WebhookEndpoint, row.endpoint_id)
        if endpoint is None:
            return "gone"
        if not endpoint.active:
            row.status, row.error, row.next_attempt_at = "failed", "The webhook is paused.", None
            await session.commit()
            return "paused"
        url, secret = endpoint.url, service.secret_of(settings, endpoint)
        body = service.body_of(row.payload)
        attempt = row.attempts + 1
    headers = {
        "User-Agent": USER_AGENT,
        "Accept": "*/*",
        "Fuze-Event": row.event,
        "Fuze-Delivery": delivery_id,
        "Fuze-Signature": service.sign(secret, int(time.time()), body),
    }
    started = time.perf_counter()
    status: int | None = None
    answer: str | None = None
    error: str | None = None
    try:
        posted = await post_json(ctx["http"], url, settings, body, headers)
        status, answer = posted.status, _text(posted.body)
        if not 200 <= status < 300:
            error = f"The endpoint answered HTTP {status}."
    except FetchError as exc:
        error = exc.message
    duration = int((time.perf_counter() - started) * 1000)
    delays = settings.webhook_retry_seconds
    async with ctx["sessionmaker"]() as session:
        await bind_user(session, row.user_id)
        row = await session.get_one(WebhookDelivery, row.id, with_for_update=True)
        endpoint = await session.get_one(WebhookEndpoint, row.endpoint_id, with_for_update=True)
        row.attempts, row.response_status, row.response_body = attempt, status, answer
        row.duration_ms, row.error = duration, error
        now = utcnow()
        paused = False
        if error is None:
            row.status, row.delivered_at, row.next_attempt_at = "succeeded", now, None
            endpoint.consecutive_failures, endpoint.last_success_at = 0, now
        elif attempt <= len(delays):
            delay = float(delays[attempt - 1])
            row.status, row.next_attempt_at = "retrying", now + timedelta(seconds=delay)
        else:
            row.status, row.next_attempt_at = "failed", None
            endpoint.consecutive_failures += 1
            endpoint.last_failure_at = now
            if (
                endpoint.active
                and endpoint.consecutive_failures >= settings.webhook_pause_after_failures
            ):
                endpoint.active = False
                endpoint.paused_reason = (
                    f"Paused after {endpoint.consecutive_failures} deliveries in a row failed; "
                    f"the last: {error}"
                )
                paused = True
        await session.commit()
        if paused:
            await service.mark_user(ctx["redis"], session, row.user_id)
    if row.status == "retrying":
        await _queue(ctx, row.id, attempt, float(delays[attempt - 1]))
    if paused:
        await events.publish(
            ctx["redis"],
            row.user_id,
            "webhook.paused",
            {"id": str(endpoint.id), "url": endpoint.url, "reason": endpoint.paused_reason},
        )
    return row.status


async def sweep(ctx: dict[str, Any], limit: int = 1000) -> int:
    """Queue again the deliveries whose try is overdue (a lost job, Redis down), and rebuild
    the set of users with an active endpoint (it lives in Redis, which may have lost it)."""
    cutoff = utcnow() - timedelta(seconds=ctx["settings"].sweep_stale_seconds)
    async with ctx["sessionmaker"]() as session:
        await bind_system(session)
        rows = (
            await session.execute(
                select(WebhookDelivery.id, WebhookDelivery.attempts)
                .where(
                    WebhookDelivery.status.in_(("pending", "retrying")),
                    or_(
                        WebhookDelivery.next_attempt_at.is_(None),
                        WebhookDelivery.next_attempt_at < cutoff,
                    ),
                )
                .limit(limit)
            )
        ).all()
        users = set(
            await session.scalars(
                select(WebhookEndpoint.user_id).where(WebhookEndpoint.active.is_(True)).distinct()
            )
        )
    for did, attempts in rows:
        await _queue(ctx, did, attempts, 0)
    try:
        if users:
            await ctx["redis"].sadd(USERS_KEY, *[str(u) for u in users])
    except Exception:
        log.warning("could not refresh the webhook users set", exc_info=True)
    return len(rows)


__all__ = ["deliver_webhook", "sweep", "webhook_event"]
