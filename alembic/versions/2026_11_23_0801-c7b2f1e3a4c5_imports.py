"""import batches and their entries

Revision ID: c7b2f1e3a4c5
Revises: c5a1e0d2f3b4
Create Date: 2026-11-23 08:01:00+00:00
"""

from collections.abc import Sequence

revision: str = "c7b2f1e3a4c5"
down_revision: str | None = "c5a1e0d2f3b4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
