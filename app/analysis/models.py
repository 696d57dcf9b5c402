from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, SmallInteger, String, Text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, TimestampMixin

# An analysis is queued (or retrying), done, not done for a reason that is not an error (no
# key), or failed with a reason.
PENDING, READY, SKIPPED, FAILED = "pending", "ready", "skipped", "failed"
STATUSES = (PENDING, READY, SKIPPED, FAILED)

CONTENT_TYPES = (
    "article",
    "tutorial",
    "documentation",
    "reference",
    "video",
    "paper",
    "repository",
    "discussion",
    "news",
    "course",
    "tool",
    "other",
)
DIFFICULTIES = ("beginner", "intermediate", "advanced")


class ContentAnalysis(TimestampMixin, Base):
    """What Gemini made of one bookmark (1:1), and the state of that analysis."""

    __tablename__ = "content_analysis"

    bookmark_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("bookmarks.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=PENDING, server_default=PENDING)
    error_code: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(Text)

    content_type: Mapped[str | None] = mapped_column(String(32))
    difficulty: Mapped[str | None] = mapped_column(String(16))
    technologies: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default="{}")
    key_concepts: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default="{}")
    topics: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default="{}")
    summary: Mapped[str | None] = mapped_column(Text)
    suggested_tags: Mapped[list[str]] = mapped_column(
        ARRAY(Text), default=list, server_default="{}"
    )
    model: Mapped[str | None] = mapped_column(String(100))

    # The bookmark's run and text this analysis is (or will be) of: a refresh starts a new
    # run; an unchanged text is not sent to Gemini again.
    run: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    content_hash: Mapped[str | None] = mapped_column(String(64))
    # Gemini calls made for this run (429/5xx/timeouts retry until gemini_max_tries).
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    analysed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_content_analysis_user_id_content_type", "user_id", "content_type"),
        Index("ix_content_analysis_user_id_status", "user_id", "status"),
        # The sweeper looks for analyses left queued (a lost job, a killed worker).
        Index(
            "ix_content_analysis_pending_updated_at",
            "updated_at",
            postgresql_where="status = 'pending'",
        ),
    )
