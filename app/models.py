"""Every domain's models, imported in one place for Alembic and for mapper configuration."""

from app.admin.models import Invite
from app.analysis.models import ContentAnalysis
from app.archives.models import PageArchive
from app.auth.models import ApiToken, RefreshToken
from app.bookmarks.models import Bookmark, BookmarkTag, BookmarkVector, Tag
from app.db import Base
from app.duplicates.models import DuplicatePair
from app.feedback.models import Feedback
from app.feeds.models import Feed, FeedEntry
from app.highlights.models import Highlight
from app.imports.models import ImportBatch, ImportChunk, ImportEntry
from app.lists.models import BookmarkList, BookmarkListItem
from app.projects.models import Project, Subtask, Task
from app.thumbnails.models import Thumbnail
from app.users.models import User
from app.webhooks.models import WebhookDelivery, WebhookEndpoint

__all__ = [
    "ApiToken",
    "Base",
    "Bookmark",
    "BookmarkList",
    "BookmarkListItem",
    "BookmarkTag",
    "BookmarkVector",
    "ContentAnalysis",
    "DuplicatePair",
    "Feed",
    "FeedEntry",
    "Feedback",
    "Highlight",
    "ImportBatch",
    "ImportChunk",
    "ImportEntry",
    "Invite",
    "PageArchive",
    "Project",
    "RefreshToken",
    "Subtask",
    "Tag",
    "Task",
    "Thumbnail",
    "User",
    "WebhookDelivery",
    "WebhookEndpoint",
]
