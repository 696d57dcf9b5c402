"""api_tokens.scope: what a personal API token may do (read, write or full)

Revision ID: a2b4c6d8e0f1
Revises: f1a3c5e7b9d2
Create Date: 2026-12-04 14:00:00+00:00

A token for an assistant or a script can be read-only. Tokens made before keep full access,
as they had. The token lookup that authenticates every request returns the scope too.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "a2b4c6d8e0f1"
down_revision: str | None = "f1a3c5e7b9d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE = "fuze_app"

LOOKUP = """
CREATE FUNCTION fuze_user_by_api_token(digest text)
RETURNS TABLE (
    owner users, data_version bigint, token_id uuid, token_expires_at timestamptz,
    token_last_used_at timestamptz{scope_column}
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
        SELECT u, coalesce(v.version, 0)::bigint, t.id, t.expires_at, t.last_used_at{scope_value}
        FROM api_tokens t JOIN users u ON u.id = t.user_id
        LEFT JOIN user_data_versions v ON v.user_id = u.id
        WHERE t.token_hash = digest;
END
$$
"""


def _lookup(with_scope: bool) -> None:
    op.execute("DROP FUNCTION fuze_user_by_api_token(text)")
    op.execute(
        LOOKUP.format(
            scope_column=", token_scope text" if with_scope else "",
            scope_value=", t.scope::text" if with_scope else "",
        )
    )
    op.execute("REVOKE ALL ON FUNCTION fuze_user_by_api_token(text) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION fuze_user_by_api_token(text) TO {ROLE}")


def upgrade() -> None:
    op.add_column(
        "api_tokens",
        sa.Column("scope", sa.String(length=8), server_default="full", nullable=False),
    )
    op.create_check_constraint("scope_known", "api_tokens", "scope IN ('read', 'write', 'full')")
    _lookup(with_scope=True)


def downgrade() -> None:
    _lookup(with_scope=False)
    op.drop_constraint(op.f("ck_api_tokens_scope_known"), "api_tokens", type_="check")
    op.drop_column("api_tokens", "scope")
