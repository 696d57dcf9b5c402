"""search: tags in the text vector, per-document term impacts (postings) for BM25

Revision ID: c4d3a2b1e0f6
Revises: c7b2f1e3a4c5
Create Date: 2026-11-23 08:02:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c4d3a2b1e0f6"
down_revision: str | None = "c7b2f1e3a4c5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tags join the weighted vector beside the description and notes. A generated column cannot
# read another table, so `tags_text` is kept by triggers on bookmark_tags and tags: every way
# tags change (API, imports, renames) counts.
SEARCH_VECTOR = """
    setweight(to_tsvector('english', coalesce(title, '') || ' ' || coalesce(page_title, '')), 'A')
    || setweight(to_tsvector('english', coalesce(description, '') || ' ' || coalesce(notes, '')
                 || ' ' || coalesce(tags_text, '')), 'B')
    || setweight(to_tsvector('english', left(coalesce(text, ''), 200000)), 'D')
"""
OLD_SEARCH_VECTOR = """
    setweight(to_tsvector('english', coalesce(title, '') || ' ' || coalesce(page_title, '')), 'A')
    || setweight(to_tsvector('english', coalesce(description, '') || ' ' || coalesce(notes, '')), 'B')
    || setweight(to_tsvector('english', left(coalesce(text, ''), 200000)), 'D')
"""

# BM25 needs, per query word, the pages that contain it ranked by how much the word weighs
# in each. Ranking every page that matches a common word through the GIN index means reading
# (and decompressing) thousands of vectors per query; a posting per (user, lexeme, page) with
# its precomputed BM25 term weight ("impact") lets a query read only the best few hundred
# pages of each word from a btree, whatever the library's size.
#   impact = tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)),  k1 = 1.2, b = 0.75
# tf counts a title occurrence 3 times and a description/notes/tags one 2 times; dl is the
# page's number of distinct lexemes; avgdl is the user's mean at write time (it drifts slowly
# and only rescales the length normalisation). The query multiplies by each word's IDF.
POSTINGS_FROM = """
    SELECT {uid}, tf.lexeme, {bid},
           (tf.f * 2.2 / (tf.f + 1.2 * (0.25 + 0.75 * {dl}::float8 / greatest({avgdl}, 1))))::real
    FROM (
        SELECT u.lexeme, sum(CASE w WHEN 'A' THEN 3 WHEN 'B' THEN 2 ELSE 1 END)::float8 AS f
        FROM unnest({vector}) u, unnest(u.weights) w
        GROUP BY u.lexeme
    ) tf
"""

TRIGGER_FUNCTION = f"""
CREATE OR REPLACE FUNCTION fuze_search_stats() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    uid uuid := COALESCE(NEW.user_id, OLD.user_id);
    old_terms text[] := CASE WHEN TG_OP IN ('UPDATE', 'DELETE')
        THEN tsvector_to_array(OLD.search_vector) ELSE '{{}}' END;
    new_terms text[] := CASE WHEN TG_OP IN ('INSERT', 'UPDATE')
        THEN tsvector_to_array(NEW.search_vector) ELSE '{{}}' END;
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
        total_length = search_stats.total_length + EXCLUDED.total_length
    RETURNING total_length::float8 / greatest(ndocs, 1) INTO avgdl;
    IF new_len > 0 THEN
        INSERT INTO search_postings (user_id, lexeme, bookmark_id, impact)
        {POSTINGS_FROM.format(uid="uid", bid="NEW.id", dl="new_len", avgdl="avgdl", vector="NEW.search_vector")};
    END IF;
    RETURN NULL;
END $$
"""

# The function as the previous revision left it (for downgrade): no postings.
TRIGGER_FUNCTION_BEFORE = (
    TRIGGER_FUNCTION.replace(
        """    IF TG_OP IN ('UPDATE', 'DELETE') AND old_len > 0 THEN
        DELETE FROM search_postings WHERE bookmark_id = OLD.id;
    END IF;
""",
        "",
    )
    .replace("\n    RETURNING total_length::float8 / greatest(ndocs, 1) INTO avgdl;", ";")
    .split("    IF new_len > 0 THEN")[0]
    + "    RETURN NULL;\nEND $$\n"
)

TAGS_FUNCTIONS = [
    """
CREATE FUNCTION fuze_bookmark_tags_text(bid uuid) RETURNS void LANGUAGE sql AS $$
    -- Only a real change rewrites the row (and so its vector and postings): a bulk insert
    -- that wrote the final tags_text itself costs nothing here.
    WITH now_tags AS (
        SELECT string_agg(t.name, ' ' ORDER BY t.name) AS text
        FROM bookmark_tags bt JOIN tags t ON t.id = bt.tag_id
        WHERE bt.bookmark_id = bid
    )
    UPDATE bookmarks SET tags_text = now_tags.text FROM now_tags
    WHERE id = bid AND tags_text IS DISTINCT FROM now_tags.text
$$
""",
    # Statement-level, over the transition tables: a statement that links many tags (an
    # import, a PATCH replacing tags) rewrites each bookmark's tags_text once, not once per
    # tag (every rewrite regenerates the vector and its postings).
    """
CREATE FUNCTION fuze_bookmark_tags_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Each branch names only the transition tables its event has.
    IF TG_OP = 'INSERT' THEN
        PERFORM fuze_bookmark_tags_text(t.bookmark_id)
        FROM (SELECT DISTINCT bookmark_id FROM new_rows ORDER BY 1) t;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM fuze_bookmark_tags_text(t.bookmark_id)
        FROM (SELECT DISTINCT bookmark_id FROM old_rows ORDER BY 1) t;
    ELSE
        PERFORM fuze_bookmark_tags_text(t.bookmark_id)
        FROM (SELECT bookmark_id FROM old_rows UNION SELECT bookmark_id FROM new_rows
              ORDER BY 1) t;
    END IF;
    RETURN NULL;
END $$
""",
    """
CREATE FUNCTION fuze_tag_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM fuze_bookmark_tags_text(bt.bookmark_id)
    FROM bookmark_tags bt WHERE bt.tag_id = NEW.id ORDER BY bt.bookmark_id;
    RETURN NULL;
END $$
""",
    """
CREATE TRIGGER tr_bookmark_tags_text_insert AFTER INSERT ON bookmark_tags
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fuze_bookmark_tags_changed()
""",
    """
CREATE TRIGGER tr_bookmark_tags_text_delete AFTER DELETE ON bookmark_tags
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fuze_bookmark_tags_changed()
""",
    """
CREATE TRIGGER tr_bookmark_tags_text_update AFTER UPDATE ON bookmark_tags
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fuze_bookmark_tags_changed()
""",
    """
CREATE TRIGGER tr_tags_renamed AFTER UPDATE OF name ON tags
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION fuze_tag_renamed()
""",
]


# Recomputes one user's statistics and postings in bulk: for operators and benchmarks that
# load many rows with triggers off (SET session_replication_role = replica), where one
# statement beats a trigger per row by far.
REBUILD_FUNCTION = (
    """
CREATE FUNCTION fuze_rebuild_search(uid uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM search_postings WHERE user_id = uid;
    DELETE FROM search_terms WHERE user_id = uid;
    DELETE FROM search_stats WHERE user_id = uid;
    INSERT INTO search_terms (user_id, lexeme, ndoc)
    SELECT uid, lexeme, count(*)
    FROM bookmarks, unnest(tsvector_to_array(search_vector)) lexeme
    WHERE user_id = uid GROUP BY lexeme;
    INSERT INTO search_stats (user_id, ndocs, total_length)
    SELECT uid, count(*) FILTER (WHERE length(search_vector) > 0),
           coalesce(sum(length(search_vector)), 0)
    FROM bookmarks WHERE user_id = uid;
    INSERT INTO search_postings (user_id, lexeme, bookmark_id, impact)
    SELECT p.* FROM bookmarks b
    JOIN search_stats s ON s.user_id = b.user_id
    CROSS JOIN LATERAL ("""
    + POSTINGS_FROM.format(
        uid="b.user_id",
        bid="b.id",
        dl="length(b.search_vector)",
        avgdl="s.total_length::float8 / greatest(s.ndocs, 1)",
        vector="b.search_vector",
    )
    + """) p
    WHERE b.user_id = uid AND length(b.search_vector) > 0;
END $$
"""
)


def upgrade() -> None:
    # No foreign keys: a page has hundreds of postings, and checking two keys for each would
    # double the cost of every save. The trigger deletes a page's postings with the page.
    op.execute("""
        CREATE TABLE search_postings (
            user_id uuid NOT NULL,
            lexeme text NOT NULL,
            bookmark_id uuid NOT NULL,
            impact real NOT NULL
        )
    """)
    op.execute("ALTER TABLE bookmarks ADD COLUMN tags_text text")
    # With tags_text still empty everywhere this leaves every vector as it was (a rewrite
    # fires no row trigger, so the statistics stay right).
    op.execute(
        f"ALTER TABLE bookmarks ALTER COLUMN search_vector SET EXPRESSION AS ({SEARCH_VECTOR})"
    )
    # Postings of the pages saved before.
    op.execute("""
        INSERT INTO search_postings (user_id, lexeme, bookmark_id, impact)
        SELECT p.* FROM bookmarks b
        JOIN search_stats s ON s.user_id = b.user_id
        CROSS JOIN LATERAL (""" + POSTINGS_FROM.format(
        uid="b.user_id", bid="b.id", dl="length(b.search_vector)",
        avgdl="s.total_length::float8 / greatest(s.ndocs, 1)", vector="b.search_vector",
    ) + """) p
        WHERE length(b.search_vector) > 0
    """)  # fmt: skip
    op.execute(
        "CREATE INDEX ix_search_postings_user_lexeme_impact ON search_postings"
        " (user_id, lexeme, impact DESC) INCLUDE (bookmark_id)"
    )
    op.execute("CREATE INDEX ix_search_postings_bookmark_id ON search_postings (bookmark_id)")
    # Prefix search ("embed" -> embedding, embedded) looks lexemes up by prefix.
    op.execute(
        "CREATE INDEX ix_search_terms_user_prefix ON search_terms (user_id, lexeme text_pattern_ops)"
    )
    op.execute(TRIGGER_FUNCTION)
    op.execute(REBUILD_FUNCTION)
    for statement in TAGS_FUNCTIONS:
        op.execute(statement)
    # Tags of the pages saved before: through the triggers, so statistics and postings follow.
    op.execute("""
        SELECT fuze_bookmark_tags_text(b.id) FROM bookmarks b
        WHERE EXISTS (SELECT 1 FROM bookmark_tags bt WHERE bt.bookmark_id = b.id)
    """)


def downgrade() -> None:
    op.execute("DROP FUNCTION fuze_rebuild_search(uuid)")
    op.execute("DROP INDEX ix_search_terms_user_prefix")
    op.execute("DROP TRIGGER tr_tags_renamed ON tags")
    for event in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER tr_bookmark_tags_text_{event} ON bookmark_tags")
    op.execute("DROP FUNCTION fuze_tag_renamed()")
    op.execute("DROP FUNCTION fuze_bookmark_tags_changed()")
    op.execute("DROP FUNCTION fuze_bookmark_tags_text(uuid)")
    op.execute(
        f"ALTER TABLE bookmarks ALTER COLUMN search_vector SET EXPRESSION AS ({OLD_SEARCH_VECTOR})"
    )
    op.execute("ALTER TABLE bookmarks DROP COLUMN tags_text")
    op.execute(TRIGGER_FUNCTION_BEFORE)
    op.execute("DROP TABLE search_postings")
