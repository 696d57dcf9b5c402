"""Every domain's models, imported in one place for Alembic and for mapper configuration."""

from app.auth.models import ApiToken, RefreshToken
from app.bookmarks.models import Bookmark, BookmarkTag, Tag
from app.db import Base
from app.users.models import User

__all__ = ["ApiToken", "Base", "Bookmark", "BookmarkTag", "RefreshToken", "Tag", "User"]
