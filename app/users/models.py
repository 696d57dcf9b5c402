from __future__ import annotations

from sqlalchemy import Boolean, Index, LargeBinary, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, IdMixin, TimestampMixin


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(32))
    email: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str | None] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    # Fernet token of the user's own Gemini API key; never returned by the API.
    gemini_key_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    gemini_key_last4: Mapped[str | None] = mapped_column(String(4))

    __table_args__ = (
        # Logins are case-insensitive, so uniqueness is too.
        Index("uq_users_username_lower", func.lower(username), unique=True),
        Index("uq_users_email_lower", func.lower(email), unique=True),
    )

    @property
    def has_gemini_key(self) -> bool:
        return self.gemini_key_encrypted is not None
