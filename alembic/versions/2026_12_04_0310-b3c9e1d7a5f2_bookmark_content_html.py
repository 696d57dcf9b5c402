"""reader view: the main content's structure as sanitised HTML beside its plain text

Revision ID: b3c9e1d7a5f2
Revises: a7c8d9e0f1a2
Create Date: 2026-12-04 03:10:00+00:00

Written by the extraction job (app/extraction/extract_html.py renders and sanitises it);
NULL for pages extracted before, until they are refreshed, and where the text has no
structure (the reader shows the plain text then).
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "b3c9e1d7a5f2"
down_revision: str | None = "a7c8d9e0f1a2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("bookmarks", sa.Column("content_html", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("bookmarks", "content_html")
