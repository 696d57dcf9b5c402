"""Webhooks over HTTP: make, list, change (pause, resume), delete an endpoint, send it a test
event, and read its delivery log. Managing them needs a full token (they send your data out)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.db import enqueue_after_commit, utcnow
from app.deps import CurrentUser, RedisDep, SessionDep, SettingsDep
from app.errors import NotFound, Unauthorized, Unprocessable, responses
from app.webhooks import service
from app.webhooks.models import WebhookDelivery, WebhookEndpoint
from app.webhooks.schemas import (
    DeliveryOut,
    DeliveryPage,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookOut,
    WebhookUpdate,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=responses(Unauthorized))


async def valid_webhook(
    webhook_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> WebhookEndpoint:
    return await service.get_owned(session, user, webhook_id)


ValidWebhook = Annotated[WebhookEndpoint, Depends(valid_webhook)]


@router.get("", response_model=WebhookList, summary="Your webhooks")
async def list_webhooks(user: CurrentUser, session: SessionDep) -> WebhookList:
    return WebhookList(items=[service.to_out(r) for r in await service.list_for(session, user)])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    summary="Add a webhook: an https address Fuze calls, signed, when the chosen events happen",
    responses=responses(Unprocessable),
)
async def create_webhook(
    data: WebhookCreate,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    redis: RedisDep,
) -> WebhookCreated:
    row, secret = await service.create(session, settings, user, data)
    await service.mark_user(redis, session, user.id)
    return WebhookCreated(**service.to_out(row).model_dump(), secret=secret)


@router.patch(
    "/{webhook_id}",
    response_model=WebhookOut,
    summary="Change a webhook's address or events, pause it, or resume it",
    responses=responses(NotFound, Unprocessable),
)
async def update_webhook(
    data: WebhookUpdate,
    row: ValidWebhook,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    redis: RedisDep,
) -> WebhookOut:
    await service.update(session, settings, row, data)
    await service.mark_user(redis, session, user.id)
    return service.to_out(row)


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a webhook and its delivery log",
    responses=responses(NotFound),
)
async def delete_webhook(
    row: ValidWebhook, user: CurrentUser, session: SessionDep, redis: RedisDep
) -> Response:
    await session.delete(row)
    await session.flush()
    await service.mark_user(redis, session, user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{webhook_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryOut,
    summary="Send the webhook a `ping` event now (it shows in the delivery log)",
    responses=responses(NotFound),
)
async def test_webhook(row: ValidWebhook, session: SessionDep) -> DeliveryOut:
    did = uuid.uuid4()
    delivery = WebhookDelivery(
        id=did, user_id=row.user_id, endpoint_id=row.id, event="ping",
        payload=service.payload(did, "ping", {"webhook_id": str(row.id)}), status="pending",
        attempts=0, created_at=utcnow(), next_attempt_at=utcnow(),
    )  # fmt: skip
    session.add(delivery)
    await session.flush()
    enqueue_after_commit(session, "deliver_webhook", str(did), _job_id=f"deliver_webhook:{did}:0")
    return DeliveryOut.model_validate(delivery, from_attributes=True)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=DeliveryPage,
    summary="A webhook's deliveries, newest first: each event, its tries and the answers",
    responses=responses(NotFound, Unprocessable),
)
async def list_deliveries(
    row: ValidWebhook,
    session: SessionDep,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> DeliveryPage:
    rows, next_cursor = await service.deliveries(session, row, cursor, limit)
    return DeliveryPage(
        items=[DeliveryOut.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=next_cursor,
    )
