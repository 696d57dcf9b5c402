"""bookmarks and tags

Revision ID: b808f86026b8
Revises: d0f1de3b73f0
Create Date: 2026-11-23 05:24:58.693446+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "b808f86026b8"
down_revision: str | None = "d0f1de3b73f0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bookmarks",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("normalized_url", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("page_title", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("site_name", sa.Text(), nullable=True),
        sa.Column("author", sa.Text(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("canonical_url", sa.Text(), nullable=True),
        sa.Column("final_url", sa.Text(), nullable=True),
        sa.Column("image_url", sa.Text(), nullable=True),
        sa.Column("favicon_url", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("word_count", sa.Integer(), nullable=True),
        sa.Column("reading_time_minutes", sa.SmallInteger(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("quality", sa.SmallInteger(), nullable=True),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("html_captured", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("source", sa.String(length=16), server_default="web", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("error_code", sa.String(length=40), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("run", sa.Integer(), server_default="1", nullable=False),
        sa.Column("attempts", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("embedding", Vector(384), nullable=True),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_bookmarks_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookmarks")),
        sa.UniqueConstraint(
            "user_id", "normalized_url", name="uq_bookmarks_user_id_normalized_url"
        ),
    )
    op.create_index(
        "ix_bookmarks_active_status_changed_at",
        "bookmarks",
        ["status_changed_at"],
        unique=False,
        postgresql_where="status IN ('pending', 'fetching', 'extracting', 'embedding')",
    )
    op.create_index(
        "ix_bookmarks_embedding_hnsw",
        "bookmarks",
        ["embedding"],
        unique=False,
        postgresql_using="hnsw",
        postgresql_with={"m": 16, "ef_construction": 64},
        postgresql_ops={"embedding": "vector_cosine_ops"},
    )
    op.create_index(
        "ix_bookmarks_user_id_saved_at", "bookmarks", ["user_id", "saved_at", "id"], unique=False
    )
    op.create_index("ix_bookmarks_user_id_status", "bookmarks", ["user_id", "status"], unique=False)
    op.create_table(
        "tags",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_tags_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
    )
    op.create_index(
        "uq_tags_user_id_name_lower",
        "tags",
        ["user_id", sa.literal_column("lower(name)")],
        unique=True,
    )
    op.create_table(
        "bookmark_tags",
        sa.Column("bookmark_id", sa.Uuid(), nullable=False),
        sa.Column("tag_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bookmark_id"],
            ["bookmarks.id"],
            name=op.f("fk_bookmark_tags_bookmark_id_bookmarks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_bookmark_tags_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("bookmark_id", "tag_id", name=op.f("pk_bookmark_tags")),
    )
    op.create_index("ix_bookmark_tags_tag_id", "bookmark_tags", ["tag_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_bookmark_tags_tag_id", table_name="bookmark_tags")
    op.drop_table("bookmark_tags")
    op.drop_index("uq_tags_user_id_name_lower", table_name="tags")
    op.drop_table("tags")
    op.drop_index("ix_bookmarks_user_id_status", table_name="bookmarks")
    op.drop_index("ix_bookmarks_user_id_saved_at", table_name="bookmarks")
    op.drop_index(
        "ix_bookmarks_embedding_hnsw",
        table_name="bookmarks",
        postgresql_using="hnsw",
        postgresql_with={"m": 16, "ef_construction": 64},
        postgresql_ops={"embedding": "vector_cosine_ops"},
    )
    op.drop_index(
        "ix_bookmarks_active_status_changed_at",
        table_name="bookmarks",
        postgresql_where="status IN ('pending', 'fetching', 'extracting', 'embedding')",
    )
    op.drop_table("bookmarks")
