"""bookmark embeddings stored inline in the row, not in TOAST

Revision ID: d1e2f3a4b5c6
Revises: c6e4b3c2d1a7
Create Date: 2026-11-23 18:00:00+00:00

pgvector's type defaults to EXTERNAL storage: a row over about 2 kB (a 384-dimension vector is
1.5 kB) has its vector moved out of line, and every read of it (the distance of each HNSW
candidate, the similarity of each keyword match) costs a TOAST lookup of several more pages.
MAIN keeps it in the row unless the row cannot fit a page otherwise; the page text and the
search vector go to TOAST first. Rows already written move when they are next updated (or at
a VACUUM FULL).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "d1e2f3a4b5c6"
down_revision: str | None = "c6e4b3c2d1a7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE bookmarks ALTER COLUMN embedding SET STORAGE MAIN")


def downgrade() -> None:
    op.execute("ALTER TABLE bookmarks ALTER COLUMN embedding SET STORAGE EXTERNAL")
