"""reading states: read, favourite, archived and reading progress on each bookmark

Revision ID: d8e1f3a5b7c9
Revises: c5e7a9b1d3f4
Create Date: 2026-12-04 10:10:00+00:00

`read_at` (NULL: unread), `favorite`, `archived_at` (NULL: in the library's default view) and
`progress` (how far the reader has scrolled, 0 to 1). The reader saves progress every few
seconds while a page is read; such an update changes nothing recommendations read, so the
data-version trigger (which empties the user's cached recommendations) skips updates that
change `progress`: the one statement that writes it (app.bookmarks.service.set_progress)
writes nothing else that recommendations use.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "d8e1f3a5b7c9"
down_revision: str | None = "c5e7a9b1d3f4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("bookmarks", sa.Column("read_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "bookmarks",
        sa.Column("favorite", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("bookmarks", sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "bookmarks",
        sa.Column("progress", sa.Float(), nullable=False, server_default=sa.text("0")),
    )
    op.create_check_constraint(
        op.f("ck_bookmarks_progress_between_0_and_1"),
        "bookmarks",
        "progress >= 0 AND progress <= 1",
    )
    op.execute("DROP TRIGGER tr_bookmarks_data_version ON bookmarks")
    op.execute(
        "CREATE CONSTRAINT TRIGGER tr_bookmarks_data_version AFTER INSERT OR DELETE"
        " ON bookmarks DEFERRABLE INITIALLY DEFERRED"
        " FOR EACH ROW EXECUTE FUNCTION fuze_bump_data_version()"
    )
    op.execute(
        "CREATE CONSTRAINT TRIGGER tr_bookmarks_data_version_update AFTER UPDATE"
        " ON bookmarks DEFERRABLE INITIALLY DEFERRED"
        " FOR EACH ROW WHEN (OLD.progress IS NOT DISTINCT FROM NEW.progress)"
        " EXECUTE FUNCTION fuze_bump_data_version()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER tr_bookmarks_data_version_update ON bookmarks")
    op.execute("DROP TRIGGER tr_bookmarks_data_version ON bookmarks")
    op.execute(
        "CREATE CONSTRAINT TRIGGER tr_bookmarks_data_version AFTER INSERT OR UPDATE OR DELETE"
        " ON bookmarks DEFERRABLE INITIALLY DEFERRED"
        " FOR EACH ROW EXECUTE FUNCTION fuze_bump_data_version()"
    )
    op.drop_constraint(op.f("ck_bookmarks_progress_between_0_and_1"), "bookmarks", type_="check")
    op.drop_column("bookmarks", "progress")
    op.drop_column("bookmarks", "archived_at")
    op.drop_column("bookmarks", "favorite")
    op.drop_column("bookmarks", "read_at")
