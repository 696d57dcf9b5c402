"""bookmark full-text search vector

Revision ID: 5e4c1a9d2b7f
Revises: b808f86026b8
Create Date: 2026-11-23 06:30:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5e4c1a9d2b7f"
down_revision: str | None = "b808f86026b8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Weighted: the user's and the page's title (A), description and notes (B), the text (D).
# The text is capped so that one huge page cannot make the vector (limit 1 MB) overflow.
SEARCH_VECTOR = """
    setweight(to_tsvector('english', coalesce(title, '') || ' ' || coalesce(page_title, '')), 'A')
    || setweight(to_tsvector('english', coalesce(description, '') || ' ' || coalesce(notes, '')), 'B')
    || setweight(to_tsvector('english', left(coalesce(text, ''), 200000)), 'D')
"""


def upgrade() -> None:
    op.execute(
        f"ALTER TABLE bookmarks ADD COLUMN search_vector tsvector "
        f"GENERATED ALWAYS AS ({SEARCH_VECTOR}) STORED"
    )
    op.execute("CREATE INDEX ix_bookmarks_search_vector ON bookmarks USING gin (search_vector)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_bookmarks_search_vector")
    op.execute("ALTER TABLE bookmarks DROP COLUMN search_vector")
