"""search statistics: lock the user's totals row before their terms, so writes cannot deadlock

Revision ID: f4d5e6f7a8b9
Revises: f2b3c4d5e6f7
Create Date: 2026-12-03 22:00:00+00:00

fuze_search_stats() ran for each change of a page's text vector and locked the user's
search_terms rows (in lexeme order) before the user's one search_stats row. A transaction
that changes a vector twice (a save and then its tags, an edit of notes and then of tags)
held the search_stats row from its first change when it came back for more terms; another
of the user's writes (the worker's extraction) held some of those terms and waited for the
search_stats row: a deadlock. Now the search_stats row comes first: the first change of any
of the user's vectors in a transaction takes it, and every term after it is taken under it,
so two transactions of one user never hold terms the other waits for.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "f4d5e6f7a8b9"
down_revision: str | None = "f2b3c4d5e6f7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HEAD = """
CREATE OR REPLACE FUNCTION fuze_search_stats() RETURNS trigger LANGUAGE plpgsql AS $$
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
    avgdl float8;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND old_len > 0 THEN
        DELETE FROM search_postings WHERE bookmark_id = OLD.id;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM users WHERE id = uid) THEN
        RETURN NULL;  -- the user is being deleted; their statistics go with them
    END IF;
"""

_TERMS = """
    INSERT INTO search_terms (user_id, lexeme, ndoc)
    SELECT uid, t.lexeme, sum(t.d)::integer
    FROM (
        SELECT unnest(old_terms) AS lexeme, -1 AS d
        UNION ALL SELECT unnest(new_terms), 1
    ) t
    GROUP BY t.lexeme HAVING sum(t.d) <> 0
    ORDER BY t.lexeme
    ON CONFLICT (user_id, lexeme) DO UPDATE SET ndoc = search_terms.ndoc + EXCLUDED.ndoc;
"""

_STATS = """
    INSERT INTO search_stats (user_id, ndocs, total_length)
    VALUES (
        uid,
        (CASE WHEN new_len > 0 THEN 1 ELSE 0 END) - (CASE WHEN old_len > 0 THEN 1 ELSE 0 END),
        new_len - old_len
    )
    ON CONFLICT (user_id) DO UPDATE SET
        ndocs = search_stats.ndocs + EXCLUDED.ndocs,
        total_length = search_stats.total_length + EXCLUDED.total_length
    RETURNING total_length::float8 / greatest(ndocs, 1) INTO avgdl;
"""

_TAIL = """
    IF new_len > 0 THEN
        INSERT INTO search_postings (user_id, lexeme, bookmark_id, impact)
        SELECT uid, tf.lexeme, NEW.id,
               (tf.f * 2.2 / (tf.f + 1.2 * (0.25 + 0.75 * new_len::float8 / greatest(avgdl, 1))))::real
        FROM (
            SELECT u.lexeme, sum(CASE w WHEN 'A' THEN 3 WHEN 'B' THEN 2 ELSE 1 END)::float8 AS f
            FROM unnest(NEW.search_vector) u, unnest(u.weights) w
            GROUP BY u.lexeme
        ) tf;
    END IF;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.execute(_HEAD + _STATS + _TERMS + _TAIL)


def downgrade() -> None:
    op.execute(_HEAD + _TERMS + _STATS + _TAIL)
