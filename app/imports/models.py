from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, IdMixin, utcnow

# An import's states: queued (file stored) -> parsing (entries being saved) -> processing
# (every entry saved; its pages go through the pipeline) -> done; failed if the file could not
# be read after all.
QUEUED, PARSING, PROCESSING, DONE, FAILED = "queued", "parsing", "processing", "done", "failed"
IMPORT_STATUSES = (QUEUED, PARSING, PROCESSING, DONE, FAILED)

# What became of one entry of the file.
IMPORTED, DUPLICATE, INVALID = "imported", "duplicate", "invalid"


class ImportBatch(IdMixin, Base):
    __tablename__ = "imports"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    filename: Mapped[str | None] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    # Entries in the file (counted when it was accepted); `parsed` of them are saved so far,
    # each as imported, duplicate or invalid: total == imported + duplicates + invalid at the end.
    total: Mapped[int] = mapped_column(Integer, default=0)
    parsed: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    invalid: Mapped[int] = mapped_column(Integer, default=0)
    # Of the imported: how many the pipeline finished, as last counted (lists show these;
    # one import's page counts them afresh).
    ready: Mapped[int] = mapped_column(Integer, default=0)
    pipeline_failed: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    parsed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_imports_user_id_created_at", "user_id", "created_at", "id"),
        # The sweeper looks for imports whose parse job was lost.
        Index(
            "ix_imports_unparsed_updated_at",
            "updated_at",
            postgresql_where="status IN ('queued', 'parsing')",
        ),
    )


class ImportChunk(Base):
    """The uploaded file, in pieces of about a megabyte, until its entries are saved: any
    worker can parse it (no shared disk), and reading it back never holds it all in memory."""

    __tablename__ = "import_chunks"

    import_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("imports.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ImportEntry(Base):
    """One entry of an imported file and what became of it."""

    __tablename__ = "import_entries"

    import_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("imports.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1-based, in file order
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    line: Mapped[int | None] = mapped_column(Integer)
    url: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))
    # The bookmark it made (imported) or matched (duplicate).
    bookmark_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("bookmarks.id", ondelete="SET NULL")
    )
    reason_code: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index(
            "ix_import_entries_user_id_import_id_outcome",
            "user_id",
            "import_id",
            "outcome",
            "position",
        ),
        Index("ix_import_entries_bookmark_id", "bookmark_id"),
    )
