from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from app.schemas import Input

Event = Literal[
    "bookmark.saved", "bookmark.ready", "bookmark.failed", "bookmark.analysed", "import.done"
]
EVENTS: tuple[str, ...] = Event.__args__  # type: ignore[attr-defined]


def _events(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    if not value:
        raise ValueError("choose at least one event")
    return sorted(set(value))


class WebhookCreate(Input):
    url: str = Field(min_length=8, max_length=2048, description="An https address of yours.")
    events: list[Event] = Field(description="What Fuze calls it for.")
    description: str | None = Field(default=None, max_length=200)

    _events = field_validator("events")(classmethod(lambda cls, v: _events(v)))


class WebhookUpdate(Input):
    url: str | None = Field(default=None, min_length=8, max_length=2048)
    events: list[Event] | None = None
    description: str | None = Field(default=None, max_length=200)
    active: bool | None = Field(
        default=None, description="false pauses it; true resumes it (and forgets its failures)."
    )

    _events = field_validator("events")(classmethod(lambda cls, v: _events(v)))


class WebhookOut(BaseModel):
    id: uuid.UUID
    url: str
    description: str | None
    events: list[str]
    active: bool
    paused_reason: str | None = Field(description="Why Fuze paused it, while it is paused.")
    consecutive_failures: int = Field(description="Deliveries that failed in a row.")
    created_at: datetime
    last_success_at: datetime | None
    last_failure_at: datetime | None


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="Signs every delivery (the Fuze-Signature header). Shown once; keep it."
    )


class WebhookList(BaseModel):
    items: list[WebhookOut]


class DeliveryOut(BaseModel):
    id: uuid.UUID
    event: str
    status: Literal["pending", "retrying", "succeeded", "failed"]
    attempts: int
    response_status: int | None
    response_body: str | None = Field(description="The start of what the endpoint answered.")
    error: str | None
    duration_ms: int | None
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    payload: dict[str, Any]


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None
