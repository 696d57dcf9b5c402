"""lists: named, nested collections of bookmarks (a bookmark can be in several)

Revision ID: f7a9b1c3d5e8
Revises: e6f8a0b2c4d6
Create Date: 2026-12-04 18:00:00+00:00

Names are unique among siblings (case-insensitive, the top level as one parent). A
membership carries its user for row-level security, and bumps the user's data version as
tags do, since recommendations can be limited to a list.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "f7a9b1c3d5e8"
down_revision: str | None = "e6f8a0b2c4d6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT = "(user_id = (SELECT fuze_user())) OR (SELECT fuze_system())"


def upgrade() -> None:
    op.create_table(
        "lists",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["lists.id"], name=op.f("fk_lists_parent_id_lists"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_lists_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lists")),
    )
    op.create_index(
        "uq_lists_user_id_parent_id_name_lower",
        "lists",
        ["user_id", "parent_id", sa.text("lower(name)")],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    op.create_index("ix_lists_parent_id", "lists", ["parent_id"])
    op.create_table(
        "bookmark_lists",
        sa.Column("list_id", sa.Uuid(), nullable=False),
        sa.Column("bookmark_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bookmark_id"],
            ["bookmarks.id"],
            name=op.f("fk_bookmark_lists_bookmark_id_bookmarks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["lists.id"],
            name=op.f("fk_bookmark_lists_list_id_lists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_bookmark_lists_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("list_id", "bookmark_id", name=op.f("pk_bookmark_lists")),
    )
    op.create_index("ix_bookmark_lists_bookmark_id", "bookmark_lists", ["bookmark_id"])
    for table in ("lists", "bookmark_lists"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant ON {table} USING ({TENANT})")
    # Recommendations limited to a list are cached under the data version: a membership
    # change must bump it (fuze_bump_data_version reads the row's user_id).
    op.execute(
        "CREATE CONSTRAINT TRIGGER tr_bookmark_lists_data_version AFTER INSERT OR UPDATE OR DELETE"
        " ON bookmark_lists DEFERRABLE INITIALLY DEFERRED"
        " FOR EACH ROW EXECUTE FUNCTION fuze_bump_data_version()"
    )


def downgrade() -> None:
    op.drop_table("bookmark_lists")
    op.drop_table("lists")
