"""duplicates: pairs of a user's bookmarks that hold the same text under different URLs

Revision ID: e6f8a0b2c4d6
Revises: e6a8c0e2f4b6
Create Date: 2026-12-04 18:00:00+00:00

`bookmark_id` repeats `original_id` (the one saved first); `status` is `dismissed` once the
user kept both, so the pair is not suggested again. Row-level security as every table of
users' rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "e6f8a0b2c4d6"
down_revision: str | None = "e6a8c0e2f4b6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT = "(user_id = (SELECT fuze_user())) OR (SELECT fuze_system())"


def upgrade() -> None:
    op.create_table(
        "duplicate_pairs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("bookmark_id", sa.Uuid(), nullable=False),
        sa.Column("original_id", sa.Uuid(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("cosine", sa.Float(), nullable=False),
        sa.Column("size_ratio", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="open", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "bookmark_id <> original_id", name=op.f("ck_duplicate_pairs_two_pages")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'dismissed')", name=op.f("ck_duplicate_pairs_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["bookmark_id"], ["bookmarks.id"],
            name=op.f("fk_duplicate_pairs_bookmark_id_bookmarks"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["original_id"], ["bookmarks.id"],
            name=op.f("fk_duplicate_pairs_original_id_bookmarks"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_duplicate_pairs_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duplicate_pairs")),
        sa.UniqueConstraint(
            "bookmark_id", "original_id", name=op.f("uq_duplicate_pairs_bookmark_id")
        ),
    )  # fmt: skip
    op.create_index(
        "ix_duplicate_pairs_user_id_created_at", "duplicate_pairs", ["user_id", "created_at", "id"]
    )
    op.create_index("ix_duplicate_pairs_original_id", "duplicate_pairs", ["original_id"])
    op.execute("ALTER TABLE duplicate_pairs ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY tenant ON duplicate_pairs USING ({TENANT})")
    op.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON duplicate_pairs TO fuze_app")


def downgrade() -> None:
    op.drop_table("duplicate_pairs")
