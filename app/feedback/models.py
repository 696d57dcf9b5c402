from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, IdMixin, utcnow

RELEVANT, IRRELEVANT, OPENED, SAVED_TO_PROJECT = (
    "relevant",
    "irrelevant",
    "opened",
    "saved_to_project",
)
SIGNALS = (RELEVANT, IRRELEVANT, OPENED, SAVED_TO_PROJECT)
# relevant and irrelevant are one judgement: giving one replaces the other.
JUDGEMENTS = (RELEVANT, IRRELEVANT)
CONTEXT_TYPES = ("project", "task", "subtask", "text", "none")


class Feedback(IdMixin, Base):
    """What a user said about a saved item in a context (a project, task, subtask, or a free
    text by its hash; `none` for the item itself)."""

    __tablename__ = "feedback"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    bookmark_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookmarks.id", ondelete="CASCADE"))
    context_type: Mapped[str] = mapped_column(String(16))
    context_key: Mapped[str] = mapped_column(String(64))
    signal: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    __table_args__ = (
        UniqueConstraint("user_id", "context_type", "context_key", "bookmark_id", "signal"),
        Index("ix_feedback_user_id_signal", "user_id", "signal"),
        Index("ix_feedback_bookmark_id", "bookmark_id"),
    )
