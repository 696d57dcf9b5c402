from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.schemas import Input

Signal = Literal["relevant", "irrelevant", "opened", "saved_to_project"]
ContextType = Literal["project", "task", "subtask", "text"]


class FeedbackContext(Input):
    type: ContextType
    id: str = Field(
        min_length=1,
        max_length=64,
        description="The project, task or subtask id; for `text`, the `context.id` that "
        "POST /api/recommendations returned.",
    )


class FeedbackCreate(Input):
    bookmark_id: uuid.UUID
    context: FeedbackContext | None = Field(
        default=None, description="Where the item was recommended; none: about the item itself."
    )
    signal: Signal


class FeedbackOut(BaseModel):
    id: uuid.UUID
    bookmark_id: uuid.UUID
    context: FeedbackContext | None
    signal: Signal
    created_at: datetime
    updated_at: datetime


class FeedbackList(BaseModel):
    items: list[FeedbackOut]
