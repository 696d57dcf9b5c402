from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, deferred, mapped_column

from app.bookmarks.models import EMBEDDING_DIM
from app.db import Base, IdMixin, utcnow

COLORS = ("yellow", "green", "blue", "pink", "purple")

# What search finds a highlight by: the words it quotes, and more the user's note about it.
SEARCH_VECTOR_SQL = (
    "setweight(to_tsvector('english', coalesce(note, '')), 'A')"
    " || setweight(to_tsvector('english', quote), 'B')"
)


class Highlight(IdMixin, Base):
    """A passage of a saved page the user marked in the reader, with a colour and a note.

    It is anchored as the W3C Web Annotation selectors do: the quoted text with a few words
    before and after it (TextQuoteSelector) and its offsets in the reader's text
    (TextPositionSelector). The quote finds it again after the page is extracted anew; the
    offsets decide between repeats of the same words. Imported highlights have no offsets."""

    __tablename__ = "highlights"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    bookmark_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookmarks.id", ondelete="CASCADE"))
    quote: Mapped[str] = mapped_column(Text)
    prefix: Mapped[str] = mapped_column(Text, default="", server_default="")
    suffix: Mapped[str] = mapped_column(Text, default="", server_default="")
    position_start: Mapped[int | None] = mapped_column(Integer)
    position_end: Mapped[int | None] = mapped_column(Integer)
    color: Mapped[str] = mapped_column(String(16), default="yellow", server_default="yellow")
    note: Mapped[str | None] = mapped_column(Text)
    # The quote and note embedded together (search by meaning, recommendations' reasons);
    # NULL until embedded (see app/highlights/jobs.py).
    embedding: Mapped[list[float] | None] = deferred(mapped_column(Vector(EMBEDDING_DIM)))
    search_vector: Mapped[Any] = deferred(
        mapped_column(TSVECTOR, Computed(SEARCH_VECTOR_SQL, persisted=True))
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    __table_args__ = (
        CheckConstraint(
            "color IN ('yellow', 'green', 'blue', 'pink', 'purple')", name="color_known"
        ),
        CheckConstraint(
            "position_start IS NULL OR (position_start >= 0 AND position_end > position_start)",
            name="position_ordered",
        ),
        Index("ix_highlights_user_id_created_at", "user_id", "created_at", "id"),
        Index("ix_highlights_bookmark_id", "bookmark_id"),
        Index("ix_highlights_search_vector", "search_vector", postgresql_using="gin"),
    )
