"""import batches and their entries

Revision ID: c7b2f1e3a4c5
Revises: c5a1e0d2f3b4
Create Date: 2026-11-23 08:01:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "c7b2f1e3a4c5"
down_revision: str | None = "c5a1e0d2f3b4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "user_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_imports_user_id_users"),
            nullable=False,
        ),
        sa.Column("filename", sa.Text(), nullable=True),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="queued"),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("parsed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("imported", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("duplicates", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("invalid", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("ready", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("pipeline_failed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error_code", sa.String(40), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("parsed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_imports"),
    )
    op.create_index("ix_imports_user_id_created_at", "imports", ["user_id", "created_at", "id"])
    op.create_index(
        "ix_imports_unparsed_updated_at",
        "imports",
        ["updated_at"],
        postgresql_where=sa.text("status IN ('queued', 'parsing')"),
    )

    op.create_table(
        "import_chunks",
        sa.Column(
            "import_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey(
                "imports.id", ondelete="CASCADE", name="fk_import_chunks_import_id_imports"
            ),
            nullable=False,
        ),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("import_id", "seq", name="pk_import_chunks"),
    )

    op.create_table(
        "import_entries",
        sa.Column(
            "import_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey(
                "imports.id", ondelete="CASCADE", name="fk_import_entries_import_id_imports"
            ),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column(
            "user_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_import_entries_user_id_users"),
            nullable=False,
        ),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column(
            "bookmark_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey(
                "bookmarks.id", ondelete="SET NULL", name="fk_import_entries_bookmark_id_bookmarks"
            ),
            nullable=True,
        ),
        sa.Column("reason_code", sa.String(40), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("import_id", "position", name="pk_import_entries"),
    )
    op.create_index(
        "ix_import_entries_user_id_import_id_outcome",
        "import_entries",
        ["user_id", "import_id", "outcome", "position"],
    )
    # Deleting a bookmark clears its entries' link: without this it would scan them all.
    op.create_index("ix_import_entries_bookmark_id", "import_entries", ["bookmark_id"])


def downgrade() -> None:
    op.drop_table("import_entries")
    op.drop_table("import_chunks")
    op.drop_index("ix_imports_unparsed_updated_at", table_name="imports")
    op.drop_index("ix_imports_user_id_created_at", table_name="imports")
    op.drop_table("imports")
