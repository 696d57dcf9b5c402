from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, IdMixin, utcnow

MAX_NAME = 100


class BookmarkList(IdMixin, Base):
    """A named collection of bookmarks, nested under another list or at the top. A bookmark
    can be in any number of lists; a list holds no bookmark of its own (deleting one leaves
    its bookmarks in the library)."""

    __tablename__ = "lists"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Deleting a list moves its sub-lists up first (app/lists/service.py); the cascade only
    # ever acts when the whole account goes.
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(MAX_NAME))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        # Names are unique among siblings, case-insensitively; the top level counts as one
        # parent (NULLS NOT DISTINCT).
        Index(
            "uq_lists_user_id_parent_id_name_lower",
            "user_id",
            "parent_id",
            func.lower(name),
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
        Index("ix_lists_parent_id", "parent_id"),
    )


class BookmarkListItem(Base):
    """A bookmark's place in a list. `user_id` (the owner of both) is what row-level security
    and the recommendations' data version read."""

    __tablename__ = "bookmark_lists"

    list_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True
    )
    bookmark_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("bookmarks.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_bookmark_lists_bookmark_id", "bookmark_id"),)
