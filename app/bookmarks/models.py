from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, deferred, mapped_column

from app.db import Base, IdMixin, utcnow

EMBEDDING_DIM = 384

# The pipeline's states; the last two are final.
PENDING, FETCHING, EXTRACTING, EMBEDDING, READY, FAILED = (
    "pending",
    "fetching",
    "extracting",
    "embedding",
    "ready",
    "failed",
)
STATUSES = (PENDING, FETCHING, EXTRACTING, EMBEDDING, READY, FAILED)
ACTIVE_STATUSES = (PENDING, FETCHING, EXTRACTING, EMBEDDING)


class Bookmark(IdMixin, Base):
    __tablename__ = "bookmarks"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    normalized_url: Mapped[str] = mapped_column(Text)
    # The user's own title wins over the page's; `page_title` keeps what the page said.
    title: Mapped[str | None] = mapped_column(Text)
    page_title: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    site_name: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    language: Mapped[str | None] = mapped_column(String(16))
    canonical_url: Mapped[str | None] = mapped_column(Text)
    final_url: Mapped[str | None] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(Text)
    favicon_url: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = deferred(mapped_column(Text))
    word_count: Mapped[int | None] = mapped_column(Integer)
    reading_time_minutes: Mapped[int | None] = mapped_column(SmallInteger)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    quality: Mapped[int | None] = mapped_column(SmallInteger)
    page_metadata: Mapped[dict[str, Any] | None] = deferred(mapped_column("metadata", JSONB))
    # The page as the extension captured it (then nothing is fetched), or as fetched until
    # it is extracted.
    html: Mapped[str | None] = deferred(mapped_column(Text))
    html_captured: Mapped[bool] = mapped_column(default=False, server_default="false")
    source: Mapped[str] = mapped_column(String(16), default="web", server_default="web")

    status: Mapped[str] = mapped_column(String(16), default=PENDING, server_default=PENDING)
    error_code: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(Text)
    # Bumped by every refresh: jobs of an older run see a different number and stop.
    run: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    # Bumped by every edit: PATCH with `version` refuses to overwrite a newer edit.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    embedding: Mapped[list[float] | None] = deferred(mapped_column(Vector(EMBEDDING_DIM)))

    saved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    status_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("user_id", "normalized_url", name="uq_bookmarks_user_id_normalized_url"),
        Index("ix_bookmarks_user_id_saved_at", "user_id", "saved_at", "id"),
        Index("ix_bookmarks_user_id_status", "user_id", "status"),
        # The sweeper looks for work left behind in a non-final state.
        Index(
            "ix_bookmarks_active_status_changed_at",
            "status_changed_at",
            postgresql_where="status IN ('pending', 'fetching', 'extracting', 'embedding')",
        ),
        Index(
            "ix_bookmarks_embedding_hnsw",
            "embedding",
            postgresql_using="hnsw",
            postgresql_with={"m": 16, "ef_construction": 64},
            postgresql_ops={"embedding": "vector_cosine_ops"},
        ),
    )


class Tag(IdMixin, Base):
    __tablename__ = "tags"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        # Tags are per user and case-insensitive: "Python" and "python" are one tag.
        Index("uq_tags_user_id_name_lower", "user_id", func.lower(name), unique=True),
    )


class BookmarkTag(Base):
    __tablename__ = "bookmark_tags"

    bookmark_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("bookmarks.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True
    )

    __table_args__ = (Index("ix_bookmark_tags_tag_id", "tag_id"),)
