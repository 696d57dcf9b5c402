"""feedback and recommendation state: a per-user data version bumped at commit

Revision ID: c6e4b3c2d1a7
Revises: c4d3a2b1e0f6
Create Date: 2026-11-23 08:03:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "c6e4b3c2d1a7"
down_revision: str | None = "c4d3a2b1e0f6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every table whose rows change what a user is recommended. Each carries user_id except
# bookmark_tags, which names its bookmark.
VERSIONED = ("bookmarks", "content_analysis", "projects", "tasks", "subtasks", "feedback")

# Recommendations are cached under the user's data version, so any change of theirs must bump
# it, whatever made the change (API, jobs, imports, raw SQL). The bump is a constraint trigger
# deferred to commit: by then the transaction holds every row lock it will take, so waiting
# for the user's row cannot deadlock with another transaction. A transaction bumps each user
# once, however many rows it touched (a transaction-local list of the users bumped), so an
# import batch of a thousand rows costs one update of the user's row, not a thousand.
# The version lives in its own table with no foreign key: deleting a user locks the users row
# and then cascades to the bookmarks, so a job committing a bookmark change must not need the
# users row (that would be a lock-order deadlock); it only ever locks its version row.
BUMP_FUNCTION = """
CREATE FUNCTION fuze_bump_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    uid uuid;
    bumped text;
BEGIN
    IF TG_TABLE_NAME = 'bookmark_tags' THEN
        SELECT user_id INTO uid FROM bookmarks
        WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.bookmark_id ELSE NEW.bookmark_id END;
    ELSIF TG_OP = 'DELETE' THEN
        uid := OLD.user_id;
    ELSE
        uid := NEW.user_id;
    END IF;
    IF uid IS NULL THEN
        RETURN NULL;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM users WHERE id = uid) THEN
        RETURN NULL;  -- the user was deleted in this transaction: nothing to version
    END IF;
    bumped := coalesce(current_setting('fuze.bumped', true), '');
    IF strpos(bumped, uid::text) > 0 THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('fuze.bumped', bumped || uid::text || ',', true);
    INSERT INTO user_data_versions AS v (user_id, version) VALUES (uid, 1)
    ON CONFLICT (user_id) DO UPDATE SET version = v.version + 1;
    RETURN NULL;
END $$
"""

FORGET_FUNCTION = """
CREATE FUNCTION fuze_forget_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM user_data_versions WHERE user_id = OLD.id;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.create_table(
        "user_data_versions",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_data_versions")),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("bookmark_id", sa.Uuid(), nullable=False),
        # project | task | subtask | text (a free-form context, by the hash of its text) |
        # none (feedback on the item itself)
        sa.Column("context_type", sa.String(16), nullable=False),
        sa.Column("context_key", sa.String(64), nullable=False),
        sa.Column("signal", sa.String(24), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_feedback_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["bookmark_id"],
            ["bookmarks.id"],
            name=op.f("fk_feedback_bookmark_id_bookmarks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
        # One current judgement per item, context and kind of signal: relevant/irrelevant
        # replace each other (the "judgement"), opened and saved_to_project are counted apart.
        sa.UniqueConstraint(
            "user_id",
            "context_type",
            "context_key",
            "bookmark_id",
            "signal",
            name=op.f("uq_feedback_user_id_context_type_context_key_bookmark_id_signal"),
        ),
    )
    op.create_index("ix_feedback_user_id_signal", "feedback", ["user_id", "signal"])
    op.create_index("ix_feedback_bookmark_id", "feedback", ["bookmark_id"])
    op.execute(BUMP_FUNCTION)
    op.execute(FORGET_FUNCTION)
    op.execute(
        "CREATE TRIGGER tr_users_forget_data_version AFTER DELETE ON users"
        " FOR EACH ROW EXECUTE FUNCTION fuze_forget_data_version()"
    )
    for table in (*VERSIONED, "bookmark_tags"):
        op.execute(
            f"CREATE CONSTRAINT TRIGGER tr_{table}_data_version AFTER INSERT OR UPDATE OR DELETE"
            f" ON {table} DEFERRABLE INITIALLY DEFERRED"
            " FOR EACH ROW EXECUTE FUNCTION fuze_bump_data_version()"
        )


def downgrade() -> None:
    for table in (*VERSIONED, "bookmark_tags"):
        op.execute(f"DROP TRIGGER tr_{table}_data_version ON {table}")
    op.execute("DROP TRIGGER tr_users_forget_data_version ON users")
    op.execute("DROP FUNCTION fuze_forget_data_version()")
    op.execute("DROP FUNCTION fuze_bump_data_version()")
    op.drop_table("feedback")
    op.drop_table("user_data_versions")
