"""projects, tasks, subtasks and content analysis

Revision ID: c5a1e0d2f3b4
Revises: 7a1f3c2e9d40
Create Date: 2026-11-23 08:00:00+00:00
"""

from collections.abc import Sequence

revision: str = "c5a1e0d2f3b4"
down_revision: str | None = "7a1f3c2e9d40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
