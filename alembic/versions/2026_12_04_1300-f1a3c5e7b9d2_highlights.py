"""highlights: passages of saved pages marked in the reader, with a colour and a note

Revision ID: f1a3c5e7b9d2
Revises: e9f2a4b6c8d0
Create Date: 2026-12-04 13:00:00+00:00

A bookmark's highlights and notes join its text vector (weight B, beside its own notes and
tags), kept in `bookmarks.highlights_text` by statement-level triggers on highlights as
`tags_text` is: a search finds a page by what the user highlighted in it. Each highlight has
its own text vector and embedding too, for the page of all highlights. Row-level security as
every table of users' rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "f1a3c5e7b9d2"
down_revision: str | None = "e9f2a4b6c8d0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCH_VECTOR = """
    setweight(to_tsvector('english', coalesce(title, '') || ' ' || coalesce(page_title, '')), 'A')
    || setweight(to_tsvector('english', coalesce(description, '') || ' ' || coalesce(notes, '')
                 || ' ' || coalesce(tags_text, '') || ' ' || coalesce(highlights_text, '')), 'B')
    || setweight(to_tsvector('english', left(coalesce(text, ''), 200000)), 'D')
"""
OLD_SEARCH_VECTOR = """
    setweight(to_tsvector('english', coalesce(title, '') || ' ' || coalesce(page_title, '')), 'A')
    || setweight(to_tsvector('english', coalesce(description, '') || ' ' || coalesce(notes, '')
                 || ' ' || coalesce(tags_text, '')), 'B')
    || setweight(to_tsvector('english', left(coalesce(text, ''), 200000)), 'D')
"""
HIGHLIGHT_VECTOR = (
    "setweight(to_tsvector('english', coalesce(note, '')), 'A')"
    " || setweight(to_tsvector('english', quote), 'B')"
)

FUNCTIONS = [
    """
CREATE FUNCTION fuze_bookmark_highlights_text(bid uuid) RETURNS void LANGUAGE sql AS $$
    -- Only a real change rewrites the row (and so its vector and postings): a new colour,
    -- or a highlight's embedding arriving, costs nothing here.
    WITH now_text AS (
        SELECT left(string_agg(h.quote || ' ' || coalesce(h.note, ''), ' '
                               ORDER BY h.created_at, h.id), 100000) AS text
        FROM highlights h WHERE h.bookmark_id = bid
    )
    UPDATE bookmarks SET highlights_text = now_text.text FROM now_text
    WHERE id = bid AND highlights_text IS DISTINCT FROM now_text.text
$$
""",
    """
CREATE FUNCTION fuze_highlights_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM fuze_bookmark_highlights_text(t.bookmark_id)
        FROM (SELECT DISTINCT bookmark_id FROM new_rows ORDER BY 1) t;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM fuze_bookmark_highlights_text(t.bookmark_id)
        FROM (SELECT DISTINCT bookmark_id FROM old_rows ORDER BY 1) t;
    ELSE
        PERFORM fuze_bookmark_highlights_text(t.bookmark_id)
        FROM (SELECT bookmark_id FROM old_rows UNION SELECT bookmark_id FROM new_rows
              ORDER BY 1) t;
    END IF;
    RETURN NULL;
END $$
""",
    """
CREATE TRIGGER tr_highlights_text_insert AFTER INSERT ON highlights
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fuze_highlights_changed()
""",
    """
CREATE TRIGGER tr_highlights_text_delete AFTER DELETE ON highlights
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fuze_highlights_changed()
""",
    """
CREATE TRIGGER tr_highlights_text_update AFTER UPDATE ON highlights
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fuze_highlights_changed()
""",
]


def upgrade() -> None:
    op.create_table(
        "highlights",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("bookmark_id", sa.Uuid(), nullable=False),
        sa.Column("quote", sa.Text(), nullable=False),
        sa.Column("prefix", sa.Text(), server_default="", nullable=False),
        sa.Column("suffix", sa.Text(), server_default="", nullable=False),
        sa.Column("position_start", sa.Integer(), nullable=True),
        sa.Column("position_end", sa.Integer(), nullable=True),
        sa.Column("color", sa.String(length=16), server_default="yellow", nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("embedding", Vector(384), nullable=True),
        sa.Column(
            "search_vector", postgresql.TSVECTOR(),
            sa.Computed(HIGHLIGHT_VECTOR, persisted=True), nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "color IN ('yellow', 'green', 'blue', 'pink', 'purple')",
            name=op.f("ck_highlights_color_known"),
        ),
        sa.CheckConstraint(
            "position_start IS NULL OR (position_start >= 0 AND position_end > position_start)",
            name=op.f("ck_highlights_position_ordered"),
        ),
        sa.ForeignKeyConstraint(
            ["bookmark_id"], ["bookmarks.id"],
            name=op.f("fk_highlights_bookmark_id_bookmarks"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_highlights_user_id_users"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_highlights")),
    )  # fmt: skip
    op.create_index(
        "ix_highlights_user_id_created_at", "highlights", ["user_id", "created_at", "id"]
    )
    op.create_index("ix_highlights_bookmark_id", "highlights", ["bookmark_id"])
    op.create_index(
        "ix_highlights_search_vector", "highlights", ["search_vector"], postgresql_using="gin"
    )
    op.execute("ALTER TABLE highlights ENABLE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant ON highlights"
        " USING ((user_id = (SELECT fuze_user())) OR (SELECT fuze_system()))"
    )
    op.execute("ALTER TABLE bookmarks ADD COLUMN highlights_text text")
    # With highlights_text empty everywhere this leaves every vector as it was.
    op.execute(
        f"ALTER TABLE bookmarks ALTER COLUMN search_vector SET EXPRESSION AS ({SEARCH_VECTOR})"
    )
    for statement in FUNCTIONS:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("highlights")
    op.execute("DROP FUNCTION fuze_highlights_changed()")
    op.execute("DROP FUNCTION fuze_bookmark_highlights_text(uuid)")
    op.execute(
        f"ALTER TABLE bookmarks ALTER COLUMN search_vector SET EXPRESSION AS ({OLD_SEARCH_VECTOR})"
    )
    op.execute("ALTER TABLE bookmarks DROP COLUMN highlights_text")
