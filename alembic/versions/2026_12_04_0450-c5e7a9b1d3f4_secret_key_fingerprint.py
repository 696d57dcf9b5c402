"""secret key fingerprint: every process sharing the database signs with the same key

Revision ID: c5e7a9b1d3f4
Revises: b3c9e1d7a5f2
Create Date: 2026-12-04 04:50:00+00:00

One row: an HMAC of a fixed string under FUZE_SECRET_KEY (never the key), written by the first
API process or worker to start and compared by every later one (app/auth/key_check.py).
Only the system scope sees it.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c5e7a9b1d3f4"
down_revision: str | None = "b3c9e1d7a5f2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE secret_key_fingerprint (
            id boolean PRIMARY KEY DEFAULT true CHECK (id),
            fingerprint text NOT NULL,
            set_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("GRANT SELECT, INSERT, UPDATE ON secret_key_fingerprint TO fuze_app")
    op.execute("ALTER TABLE secret_key_fingerprint ENABLE ROW LEVEL SECURITY")
    op.execute("CREATE POLICY tenant ON secret_key_fingerprint USING ((SELECT fuze_system()))")


def downgrade() -> None:
    op.execute("DROP TABLE secret_key_fingerprint")
