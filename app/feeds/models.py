from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, IdMixin, utcnow


class Feed(IdMixin, Base):
    """An RSS or Atom feed the user follows: the worker reads it every `interval_minutes`
    (conditionally, with the validators of the last read) and saves its new items."""

    __tablename__ = "feeds"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    site_url: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    interval_minutes: Mapped[int] = mapped_column(Integer, default=60, server_default="60")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    # ok, not_modified or error (with last_error); NULL until the first read
    last_status: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_check_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    items_saved: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        Index("ix_feeds_user_id_created_at", "user_id", "created_at"),
        Index("ix_feeds_next_check_at", "next_check_at", postgresql_where="active"),
    )


class FeedEntry(Base):
    """An item of a feed already seen (saved, or passed over at subscribing): never saved
    again, even after the bookmark is deleted."""

    __tablename__ = "feed_entries"

    feed_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("feeds.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(Text, primary_key=True)  # its guid, else its link
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
