"""refresh tokens: a partial index on the families not revoked

Revision ID: f1a2b3c4d5e6
Revises: e2f3a4b5c6d7
Create Date: 2026-12-03 10:00:00+00:00

Every request with an access token reads whether its session (its refresh-token family) still
stands: a family with a token not revoked. Over the tokens not revoked only, that is one probe
of a small index whatever the family's length, and a revoked family costs nothing to find.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "f1a2b3c4d5e6"
down_revision: str | None = "e2f3a4b5c6d7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_refresh_tokens_live_family ON refresh_tokens (family_id, user_id)"
        " WHERE revoked_at IS NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_refresh_tokens_live_family")
