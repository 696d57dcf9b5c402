from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, IdMixin, utcnow


class PageArchive(IdMixin, Base):
    """One archived copy of a saved page (app/archives/build.py), its file kept gzip-compressed
    under the data folder (app/archives/store.py). A page processed again gets a new one; the
    earlier ones stay, with their dates, until deleted."""

    __tablename__ = "page_archives"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    bookmark_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookmarks.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # ready, or failed (with `error`), or skipped (the user's archive quota was full)
    status: Mapped[str] = mapped_column(String(16))
    source_url: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)  # the HTML, uncompressed
    # on disk: the compressed copy and the reader's images (app/archives/images.py)
    stored_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    assets: Mapped[int] = mapped_column(Integer, default=0)  # files inlined
    failures: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)  # {url, reason}
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_page_archives_bookmark_id_created_at", "bookmark_id", "created_at"),
        Index("ix_page_archives_user_id", "user_id"),
    )
