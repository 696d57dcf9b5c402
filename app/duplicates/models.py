from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, IdMixin, utcnow

OPEN, DISMISSED = "open", "dismissed"


class DuplicatePair(IdMixin, Base):
    """Two of a user's bookmarks that hold the same text under different URLs: `bookmark_id`
    (the one saved later) repeats `original_id`. Found on save and by a scan; `dismissed`
    when the user kept both, so the pair is never suggested again. Gone with either page."""

    __tablename__ = "duplicate_pairs"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    bookmark_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookmarks.id", ondelete="CASCADE"))
    original_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookmarks.id", ondelete="CASCADE"))
    # Share of the shorter text's 5-word shingles found in the other (app/duplicates/similarity).
    score: Mapped[float] = mapped_column(Float)
    cosine: Mapped[float] = mapped_column(Float)
    # The shorter text's share of the longer one's shingles: below 1, one copy is cut short.
    size_ratio: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default=OPEN, server_default=OPEN)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        UniqueConstraint("bookmark_id", "original_id"),
        CheckConstraint("bookmark_id <> original_id", name="two_pages"),
        CheckConstraint("status IN ('open', 'dismissed')", name="status_known"),
        Index("ix_duplicate_pairs_user_id_created_at", "user_id", "created_at", "id"),
        Index("ix_duplicate_pairs_original_id", "original_id"),
    )
