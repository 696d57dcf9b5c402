"""thumbnails: the small picture of each saved page that the library's cards show

Revision ID: a9b1c3d5e7f9
Revises: f7a9b1c3d5e8
Create Date: 2026-12-04 18:00:00+00:00

One row per bookmark, made by the worker from the page's image (app/thumbnails/jobs.py): the
WebP itself (a few kB), its hash for caching, or why there is none. Kept in the database so
it goes with its bookmark and any API replica can serve it. Row-level security as every
table of users' rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "a9b1c3d5e7f9"
down_revision: str | None = "f7a9b1c3d5e8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "thumbnails",
        sa.Column("bookmark_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("run", sa.Integer(), nullable=False),
        sa.Column("source_url", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("etag", sa.String(length=32), nullable=True),
        sa.Column("width", sa.SmallInteger(), nullable=True),
        sa.Column("height", sa.SmallInteger(), nullable=True),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bookmark_id"], ["bookmarks.id"],
            name=op.f("fk_thumbnails_bookmark_id_bookmarks"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_thumbnails_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("bookmark_id", name=op.f("pk_thumbnails")),
    )  # fmt: skip
    op.create_index("ix_thumbnails_user_id", "thumbnails", ["user_id"])
    # The pictures are stored as WebP already: no point compressing them again.
    op.execute("ALTER TABLE thumbnails ALTER COLUMN data SET STORAGE EXTERNAL")
    op.execute("ALTER TABLE thumbnails ENABLE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant ON thumbnails"
        " USING ((user_id = (SELECT fuze_user())) OR (SELECT fuze_system()))"
    )
    op.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON thumbnails TO fuze_app")


def downgrade() -> None:
    op.drop_table("thumbnails")
