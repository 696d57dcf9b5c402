"""search: tags in the text vector, per-document term frequencies

Revision ID: c4d3a2b1e0f6
Revises: c7b2f1e3a4c5
Create Date: 2026-11-23 08:02:00+00:00
"""

from collections.abc import Sequence

revision: str = "c4d3a2b1e0f6"
down_revision: str | None = "c7b2f1e3a4c5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
