from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, IdMixin, TimestampMixin


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(32))
    email: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str | None] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    # Set by an administrator: every token of the account stops at once (authentication reads
    # this column with the user), and it cannot sign in until enabled again.
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    # This user's limits, instead of the server's (FUZE_MAX_*_PER_USER); 0 for none.
    bookmark_quota: Mapped[int | None] = mapped_column(Integer)
    archive_quota_bytes: Mapped[int | None] = mapped_column(BigInteger)
    # Fernet token of the user's own Gemini API key; never returned by the API.
    gemini_key_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    gemini_key_last4: Mapped[str | None] = mapped_column(String(4))
    # Another AI than Gemini (app/llm.py): openai (any compatible endpoint) or ollama, its
    # address and model, and its key (encrypted as the Gemini key is; none for a local Ollama).
    llm_provider: Mapped[str | None] = mapped_column(String(16))
    llm_base_url: Mapped[str | None] = mapped_column(Text)
    llm_model: Mapped[str | None] = mapped_column(String(200))
    llm_key_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    llm_key_last4: Mapped[str | None] = mapped_column(String(4))

    __table_args__ = (
        # Logins are case-insensitive, so uniqueness is too.
        Index("uq_users_username_lower", func.lower(username), unique=True),
        Index("uq_users_email_lower", func.lower(email), unique=True),
    )

    @property
    def is_active(self) -> bool:
        return self.disabled_at is None

    @property
    def has_gemini_key(self) -> bool:
        return self.gemini_key_encrypted is not None
