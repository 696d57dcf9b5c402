"""page archives: a self-contained copy of each saved page, kept in versions

Revision ID: e9f2a4b6c8d0
Revises: d8e1f3a5b7c9
Create Date: 2026-12-04 11:00:00+00:00

The rows say what each copy holds (size, files inlined, what could not be fetched and why);
the copies themselves are gzip files under the data folder (app/archives/store.py), so they
travel with `fuze backup`. Row-level security as every table of users' rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "e9f2a4b6c8d0"
down_revision: str | None = "d8e1f3a5b7c9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "page_archives",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("bookmark_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source_url", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("stored_bytes", sa.BigInteger(), nullable=False),
        sa.Column("assets", sa.Integer(), nullable=False),
        sa.Column("failures", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["bookmark_id"], ["bookmarks.id"],
            name=op.f("fk_page_archives_bookmark_id_bookmarks"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"],
            name=op.f("fk_page_archives_user_id_users"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_page_archives")),
    )  # fmt: skip
    op.create_index(
        "ix_page_archives_bookmark_id_created_at", "page_archives", ["bookmark_id", "created_at"]
    )
    op.create_index("ix_page_archives_user_id", "page_archives", ["user_id"])
    op.execute("ALTER TABLE page_archives ENABLE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant ON page_archives"
        " USING ((user_id = (SELECT fuze_user())) OR (SELECT fuze_system()))"
    )


def downgrade() -> None:
    op.drop_table("page_archives")
