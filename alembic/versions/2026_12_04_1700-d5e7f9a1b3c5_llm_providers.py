"""users: another AI than Gemini (an OpenAI-compatible endpoint or Ollama), per user

Revision ID: d5e7f9a1b3c5
Revises: c4d6e8f0a2b4
Create Date: 2026-12-04 17:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "d5e7f9a1b3c5"
down_revision: str | None = "c4d6e8f0a2b4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("llm_provider", sa.String(length=16), nullable=True))
    op.add_column("users", sa.Column("llm_base_url", sa.Text(), nullable=True))
    op.add_column("users", sa.Column("llm_model", sa.String(length=200), nullable=True))
    op.add_column("users", sa.Column("llm_key_encrypted", sa.LargeBinary(), nullable=True))
    op.add_column("users", sa.Column("llm_key_last4", sa.String(length=4), nullable=True))


def downgrade() -> None:
    for column in (
        "llm_key_last4",
        "llm_key_encrypted",
        "llm_model",
        "llm_base_url",
        "llm_provider",
    ):
        op.drop_column("users", column)
