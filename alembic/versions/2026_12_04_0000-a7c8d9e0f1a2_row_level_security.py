"""row-level security: the app connects as fuze_app, which sees only the current user's rows

Revision ID: a7c8d9e0f1a2
Revises: f4d5e6f7a8b9
Create Date: 2026-12-04 00:00:00+00:00

A second wall behind the `user_id` filter every query already has. The tables stay owned by
the role that runs migrations; the API and the workers switch to `fuze_app` when they connect
(app.db.SERVER_SETTINGS), a role that owns nothing, so these policies apply to every
statement they run. Each transaction (and each read-pool connection) says whom it is for:

- `fuze.user_id`: the user a request or job works for; a row of another user is neither seen
  nor written (an INSERT or UPDATE that would leave such a row fails with 42501);
- `fuze.scope = 'system'`: the few named places that work across users (sign-in by email,
  sign-up, the sweepers, administration).

Neither set: nothing is visible. The current user and scope are read once per statement (the
sub-selects below become init plans), not once per row.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a7c8d9e0f1a2"
down_revision: str | None = "f4d5e6f7a8b9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE = "fuze_app"

# Tables with a user_id column: a row is the user's own.
OWNED = (
    "api_tokens",
    "bookmark_vectors",
    "bookmarks",
    "content_analysis",
    "feedback",
    "import_entries",
    "imports",
    "projects",
    "refresh_tokens",
    "search_postings",
    "search_stats",
    "search_terms",
    "subtasks",
    "tags",
    "tasks",
    "user_data_versions",
)
# Tables without one, and whose rows they belong to (the parent's own policy applies inside).
CHILDREN = {
    "bookmark_tags": "EXISTS (SELECT 1 FROM bookmarks b WHERE b.id = bookmark_id)",
    "import_chunks": "EXISTS (SELECT 1 FROM imports i WHERE i.id = import_id)",
}
USER = "(SELECT fuze_user())"
SYSTEM = "(SELECT fuze_system())"

_FUNCTIONS = (
    """
    CREATE OR REPLACE FUNCTION fuze_user() RETURNS uuid LANGUAGE sql STABLE AS $$
        SELECT nullif(current_setting('fuze.user_id', true), '')::uuid
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION fuze_system() RETURNS boolean LANGUAGE sql STABLE AS $$
        SELECT coalesce(current_setting('fuze.scope', true) = 'system', false)
    $$
    """,
)

# Who a personal API token belongs to, before anyone is known: the one read across users that
# every request with such a token makes. It runs as the tables' owner (policies do not apply
# to the owner) and returns the token's owner whole, with what authentication reads beside
# it; it also makes that user the connection's current one (app.db.ReadPool keeps track), so
# that the request's next reads on it need nothing more.
_TOKEN_LOOKUP = """
CREATE OR REPLACE FUNCTION fuze_user_by_api_token(digest text)
RETURNS TABLE (
    owner users, data_version bigint, token_id uuid, token_expires_at timestamptz,
    token_last_used_at timestamptz
) LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    found_user uuid;
BEGIN
    SELECT t.user_id INTO found_user FROM api_tokens t WHERE t.token_hash = digest;
    IF found_user IS NULL THEN
        RETURN;
    END IF;
    PERFORM set_config('fuze.user_id', found_user::text, false),
            set_config('fuze.scope', '', false);
    RETURN QUERY
        SELECT u, coalesce(v.version, 0)::bigint, t.id, t.expires_at, t.last_used_at
        FROM api_tokens t JOIN users u ON u.id = t.user_id
        LEFT JOIN user_data_versions v ON v.user_id = u.id
        WHERE t.token_hash = digest;
END
$$
"""


# A user's own condition that is not "leakproof" may not run before the policy's: PostgreSQL
# would otherwise let it see rows the policy hides. `search_vector @@ query` (ts_match_vq) is
# not marked leakproof, so under the policies the full-text index went unused: a scan of all
# the user's pages (0.19 ms through the index, 5.8 ms without, for 20,000 pages). The match
# raises no error that depends on the row and has no side effect; a superuser may say so.
# Without one (a managed server), full-text queries with web-search syntax scan instead.
TRUST_FULLTEXT_MATCH = """
DO $$
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF;
    END IF;
END
$$
"""


def upgrade() -> None:
    # Roles belong to the whole server: another database of it may have made this one.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
                CREATE ROLE {ROLE} NOLOGIN;
            END IF;
            -- The login role switches to fuze_app when it connects (a superuser may anyway).
            IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
                EXECUTE format('GRANT {ROLE} TO %I', current_user);
            END IF;
        END
        $$;
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {ROLE}")
    op.execute(f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {ROLE}")
    # Tables later migrations create are the app's to use too (their policies come with them).
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public"
        f" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {ROLE}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {ROLE}"
    )
    for function in _FUNCTIONS:
        op.execute(function)
    op.execute(_TOKEN_LOOKUP)
    op.execute("REVOKE ALL ON FUNCTION fuze_user_by_api_token(text) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION fuze_user_by_api_token(text) TO {ROLE}")

    def protect(table: str, rule: str) -> None:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant ON {table} USING (({rule}) OR {SYSTEM})")

    for table in OWNED:
        protect(table, f"user_id = {USER}")
    for table, rule in CHILDREN.items():
        protect(table, rule)
    protect("users", f"id = {USER}")
    # Invite codes are the administrators' (system scope) and sign-up's (system scope too).
    protect("invites", "false")
    op.execute(TRUST_FULLTEXT_MATCH)
    # The partitions of bookmark_vectors: reached through the parent, whose policy applies;
    # reached directly, they show the app nothing.
    op.execute(
        """
        DO $$
        DECLARE part regclass;
        BEGIN
            FOR part IN SELECT inhrelid::regclass FROM pg_inherits
                        WHERE inhparent = 'bookmark_vectors'::regclass LOOP
                EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', part);
            END LOOP;
        END
        $$;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DO $$
        DECLARE part regclass;
        BEGIN
            FOR part IN SELECT inhrelid::regclass FROM pg_inherits
                        WHERE inhparent = 'bookmark_vectors'::regclass LOOP
                EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', part);
            END LOOP;
        END
        $$;
        """
    )
    for table in (*OWNED, *CHILDREN, "users", "invites"):
        op.execute(f"DROP POLICY IF EXISTS tenant ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute("DROP FUNCTION IF EXISTS fuze_user_by_api_token(text)")
    op.execute("DROP FUNCTION IF EXISTS fuze_user()")
    op.execute("DROP FUNCTION IF EXISTS fuze_system()")
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public"
        f" REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {ROLE}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM {ROLE}"
    )
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {ROLE}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {ROLE}")
    # The role stays: other databases of this server may use it.
