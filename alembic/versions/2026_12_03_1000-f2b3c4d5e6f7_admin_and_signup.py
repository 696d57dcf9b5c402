"""administrators, disabled accounts, per-user quotas, invite codes

Revision ID: f2b3c4d5e6f7
Revises: e2f3a4b5c6d7
Create Date: 2026-12-03 10:00:00+00:00

`users.is_active` becomes `users.disabled_at` (when, not only whether). On a server that
already has accounts, the oldest one becomes the administrator.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "f2b3c4d5e6f7"
down_revision: str | None = "e2f3a4b5c6d7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE users SET disabled_at = updated_at WHERE NOT is_active")
    op.drop_column("users", "is_active")
    op.add_column(
        "users", sa.Column("is_admin", sa.Boolean(), server_default="false", nullable=False)
    )
    op.add_column("users", sa.Column("bookmark_quota", sa.Integer(), nullable=True))
    op.add_column("users", sa.Column("archive_quota_bytes", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE users SET is_admin = true"
        " WHERE id = (SELECT id FROM users ORDER BY created_at, id LIMIT 1)"
    )
    op.create_table(
        "invites",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_invites_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invites")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_invites_code_hash")),
    )


def downgrade() -> None:
    op.drop_table("invites")
    op.drop_column("users", "archive_quota_bytes")
    op.drop_column("users", "bookmark_quota")
    op.drop_column("users", "is_admin")
    op.add_column(
        "users", sa.Column("is_active", sa.Boolean(), server_default="true", nullable=False)
    )
    op.execute("UPDATE users SET is_active = false WHERE disabled_at IS NOT NULL")
    op.drop_column("users", "disabled_at")
