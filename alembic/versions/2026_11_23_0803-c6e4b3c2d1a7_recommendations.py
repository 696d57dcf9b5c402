"""feedback and recommendation state

Revision ID: c6e4b3c2d1a7
Revises: c4d3a2b1e0f6
Create Date: 2026-11-23 08:03:00+00:00
"""

from collections.abc import Sequence

revision: str = "c6e4b3c2d1a7"
down_revision: str | None = "c4d3a2b1e0f6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
