from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, deferred, mapped_column

from app.db import Base, utcnow

# A bookmark's picture for the library's cards: made (`ready`), the page has none (`none`),
# or it could not be made (`failed`, with `error`). No row: not made yet.
READY, NONE, FAILED = "ready", "none", "failed"


class Thumbnail(Base):
    """The small WebP of a saved page's image that the library's cards show
    (app/thumbnails/jobs.py), one per bookmark, kept in the database: a few kB each, gone with
    its bookmark, and readable by any API replica."""

    __tablename__ = "thumbnails"

    bookmark_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("bookmarks.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    # The bookmark's run it was made for: a refresh makes it again (when its image changed).
    run: Mapped[int] = mapped_column(Integer)
    source_url: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    # The WebP and its hash (the ETag, and the version in the image's address).
    data: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    etag: Mapped[str | None] = mapped_column(String(32))
    width: Mapped[int | None] = mapped_column(SmallInteger)
    height: Mapped[int | None] = mapped_column(SmallInteger)
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    # When the sweeper may try a failed one again (null: it will not; a refresh will).
    retry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    made_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_thumbnails_user_id", "user_id"),)
