"""tags: how many bookmarks have each, kept by triggers on bookmark_tags and applied at commit

Counting them per request read every bookmark_tags row of the matching tags, each through
the row-level policy's look-up of its bookmark: 2.3 s for the autocomplete's first letter at
20,000 tags on 50,000 bookmarks (bench/tags.py). The count is now a column.

It is not changed by the statement that links or unlinks a tag: a hot tag's row would then be
locked from that statement to the commit, and a transaction that unlinks one tag and links
another (an edit) would lock two tags in the order of its statements: concurrent saves and
edits deadlocked (tests/test_reliability.py). Each statement records its changes per tag in
tag_count_pending, for its transaction; a trigger deferred to commit adds them up and applies
them in the order of the tags' ids, once, when the transaction holds every other lock it will
take (as user_data_versions is kept).

Revision ID: e6a8c0e2f4b6
Revises: d5e7f9a1b3c5
Create Date: 2026-12-05 09:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "e6a8c0e2f4b6"
down_revision: str | None = "d5e7f9a1b3c5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Both functions run as the tables' owner: tag_count_pending is the database's own
# bookkeeping, with no grant to the app's role, and the counts are applied whoever's rows
# changed (a worker, a cascade from a deleted bookmark).
RECORD_FUNCTION = """
CREATE FUNCTION fuze_tag_counts_record() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    -- Each branch names only the transition tables its event has.
    IF TG_OP = 'INSERT' THEN
        INSERT INTO tag_count_pending (xact, tag_id, delta)
        SELECT pg_current_xact_id(), tag_id, count(*) FROM new_rows GROUP BY tag_id;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO tag_count_pending (xact, tag_id, delta)
        SELECT pg_current_xact_id(), tag_id, -count(*) FROM old_rows GROUP BY tag_id;
    ELSE
        INSERT INTO tag_count_pending (xact, tag_id, delta)
        SELECT pg_current_xact_id(), tag_id, sum(d) FROM (
            SELECT tag_id, 1 AS d FROM new_rows UNION ALL SELECT tag_id, -1 FROM old_rows
        ) changed GROUP BY tag_id HAVING sum(d) <> 0;
    END IF;
    RETURN NULL;
END $$
"""

# Deferred to commit, for each pending row: the first call applies them all (in the order of
# the tags' ids) and removes them; the others find none.
APPLY_FUNCTION = """
CREATE FUNCTION fuze_tag_counts_apply() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    r record;
BEGIN
    FOR r IN
        WITH taken AS (
            DELETE FROM tag_count_pending WHERE xact = pg_current_xact_id()
            RETURNING tag_id, delta
        )
        SELECT tag_id, sum(delta) AS delta FROM taken
        GROUP BY tag_id HAVING sum(delta) <> 0 ORDER BY tag_id
    LOOP
        UPDATE tags SET bookmarks_count = greatest(bookmarks_count + r.delta, 0)
        WHERE id = r.tag_id;
    END LOOP;
    RETURN NULL;
END $$
"""

TRIGGERS = {
    "insert": "AFTER INSERT ON bookmark_tags REFERENCING NEW TABLE AS new_rows",
    "delete": "AFTER DELETE ON bookmark_tags REFERENCING OLD TABLE AS old_rows",
    "update": "AFTER UPDATE ON bookmark_tags REFERENCING OLD TABLE AS old_rows "
    "NEW TABLE AS new_rows",
}


def upgrade() -> None:
    op.add_column(
        "tags",
        sa.Column("bookmarks_count", sa.Integer(), nullable=False, server_default="0"),
    )
    op.execute(
        "UPDATE tags t SET bookmarks_count = c.n"
        " FROM (SELECT tag_id, count(*) AS n FROM bookmark_tags GROUP BY tag_id) c"
        " WHERE c.tag_id = t.id"
    )
    op.execute(
        "CREATE UNLOGGED TABLE tag_count_pending ("
        " xact xid8 NOT NULL, tag_id uuid NOT NULL, delta integer NOT NULL)"
    )
    op.execute("CREATE INDEX ix_tag_count_pending_xact ON tag_count_pending (xact)")
    # Only the two functions below (the owner's) use it; a policy as every table has, in case.
    op.execute("REVOKE ALL ON tag_count_pending FROM PUBLIC")
    op.execute("ALTER TABLE tag_count_pending ENABLE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant ON tag_count_pending USING "
        "(EXISTS (SELECT 1 FROM tags t WHERE t.id = tag_id) OR (SELECT fuze_system()))"
    )
    op.execute(RECORD_FUNCTION)
    op.execute(APPLY_FUNCTION)
    for event, spec in TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER tr_bookmark_tags_count_{event} {spec}"
            " FOR EACH STATEMENT EXECUTE FUNCTION fuze_tag_counts_record()"
        )
    op.execute(
        "CREATE CONSTRAINT TRIGGER tr_tag_count_pending_apply AFTER INSERT ON tag_count_pending"
        " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fuze_tag_counts_apply()"
    )
    # The tags page: a user's most used tags first.
    op.create_index(
        "ix_tags_user_id_bookmarks_count",
        "tags",
        ["user_id", sa.text("bookmarks_count DESC")],
    )


def downgrade() -> None:
    op.drop_index("ix_tags_user_id_bookmarks_count", table_name="tags")
    for event in TRIGGERS:
        op.execute(f"DROP TRIGGER tr_bookmark_tags_count_{event} ON bookmark_tags")
    op.execute("DROP TABLE tag_count_pending")
    op.execute("DROP FUNCTION fuze_tag_counts_apply()")
    op.execute("DROP FUNCTION fuze_tag_counts_record()")
    op.drop_column("tags", "bookmarks_count")
