"""per-user term statistics for BM25 keyword ranking

Revision ID: 7a1f3c2e9d40
Revises: 5e4c1a9d2b7f
Create Date: 2026-11-23 07:15:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "7a1f3c2e9d40"
down_revision: str | None = "5e4c1a9d2b7f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# How many of a user's bookmarks contain each lexeme, and the user's document count and
# total length: what BM25 needs (PostgreSQL's ts_rank has no inverse document frequency).
# Kept by a trigger, so every way a bookmark changes (API, jobs, imports) counts. One ordered
# upsert per change takes row locks in lexeme order (no deadlocks between two bookmarks of one
# user changing at once). The last two statements count bookmarks saved before this.
UPGRADE = [
    """
CREATE TABLE search_terms (
            user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            lexeme text NOT NULL,
            ndoc integer NOT NULL,
            CONSTRAINT pk_search_terms PRIMARY KEY (user_id, lexeme)
        )
""",
    """
CREATE TABLE search_stats (
            user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
            ndocs integer NOT NULL,
            total_length bigint NOT NULL
        )
""",
    """
-- Kept by a trigger, so every way a bookmark changes (API, jobs, imports) counts.
        -- One ordered upsert per change takes row locks in lexeme order (no deadlocks
        -- between two bookmarks of one user changing at once).
        CREATE FUNCTION fuze_search_stats() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            uid uuid := COALESCE(NEW.user_id, OLD.user_id);
            old_terms text[] := CASE WHEN TG_OP IN ('UPDATE', 'DELETE')
                THEN tsvector_to_array(OLD.search_vector) ELSE '{}' END;
            new_terms text[] := CASE WHEN TG_OP IN ('INSERT', 'UPDATE')
                THEN tsvector_to_array(NEW.search_vector) ELSE '{}' END;
            old_len integer := CASE WHEN TG_OP IN ('UPDATE', 'DELETE')
                THEN length(OLD.search_vector) ELSE 0 END;
            new_len integer := CASE WHEN TG_OP IN ('INSERT', 'UPDATE')
                THEN length(NEW.search_vector) ELSE 0 END;
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM users WHERE id = uid) THEN
                RETURN NULL;  -- the user is being deleted; their statistics go with them
            END IF;
            INSERT INTO search_terms (user_id, lexeme, ndoc)
            SELECT uid, t.lexeme, sum(t.d)::integer
            FROM (
                SELECT unnest(old_terms) AS lexeme, -1 AS d
                UNION ALL SELECT unnest(new_terms), 1
            ) t
            GROUP BY t.lexeme HAVING sum(t.d) <> 0
            ORDER BY t.lexeme
            ON CONFLICT (user_id, lexeme) DO UPDATE SET ndoc = search_terms.ndoc + EXCLUDED.ndoc;
            INSERT INTO search_stats (user_id, ndocs, total_length)
            VALUES (
                uid,
                (CASE WHEN new_len > 0 THEN 1 ELSE 0 END) - (CASE WHEN old_len > 0 THEN 1 ELSE 0 END),
                new_len - old_len
            )
            ON CONFLICT (user_id) DO UPDATE SET
                ndocs = search_stats.ndocs + EXCLUDED.ndocs,
                total_length = search_stats.total_length + EXCLUDED.total_length;
            RETURN NULL;
        END $$
""",
    """
CREATE TRIGGER tr_bookmarks_search_stats_insert AFTER INSERT ON bookmarks
            FOR EACH ROW EXECUTE FUNCTION fuze_search_stats()
""",
    """
CREATE TRIGGER tr_bookmarks_search_stats_delete AFTER DELETE ON bookmarks
            FOR EACH ROW EXECUTE FUNCTION fuze_search_stats()
""",
    """
CREATE TRIGGER tr_bookmarks_search_stats_update AFTER UPDATE ON bookmarks
            FOR EACH ROW WHEN (OLD.search_vector IS DISTINCT FROM NEW.search_vector)
            EXECUTE FUNCTION fuze_search_stats()
""",
    """
INSERT INTO search_terms (user_id, lexeme, ndoc)
        SELECT user_id, lexeme, count(*) FROM bookmarks, unnest(tsvector_to_array(search_vector)) lexeme
        GROUP BY user_id, lexeme
""",
    """
INSERT INTO search_stats (user_id, ndocs, total_length)
        SELECT user_id, count(*) FILTER (WHERE length(search_vector) > 0), sum(length(search_vector))
        FROM bookmarks GROUP BY user_id
""",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in (
        "DROP TRIGGER tr_bookmarks_search_stats_update ON bookmarks",
        "DROP TRIGGER tr_bookmarks_search_stats_delete ON bookmarks",
        "DROP TRIGGER tr_bookmarks_search_stats_insert ON bookmarks",
        "DROP FUNCTION fuze_search_stats()",
        "DROP TABLE search_stats",
        "DROP TABLE search_terms",
    ):
        op.execute(statement)
