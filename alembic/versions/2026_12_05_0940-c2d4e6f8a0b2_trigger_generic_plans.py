"""triggers: the statements of the hot trigger functions run on generic plans

Revision ID: c2d4e6f8a0b2
Revises: a9b1c3d5e7f9
Create Date: 2026-12-05 09:40:00+00:00

Connections plan each execution for its values (app/db.py: plan_cache_mode =
force_custom_plan, for the per-user skew of searches), and that held for the statements inside
PL/pgSQL trigger functions too: every saved, extracted or tagged page re-planned the search
statistics' and postings' statements and the data version's, each time. Those statements
find rows by key (a bookmark's postings, a user's terms and totals, a user's version), so one
plan serves every user: the functions now set plan_cache_mode for their own duration. Measured
with bench/throughput.py (save, 500 bookmarks, two fresh databases each way): PostgreSQL's CPU
per save 2.7-2.8 ms against 3.1-3.3 at concurrency 8, 2.9-3.5 against 4.0-4.1 one at a time;
bench/ingest.py (1,000 pages imported): PostgreSQL 15.8 s against 18.1 s of CPU.

A later migration that re-creates one of these functions (CREATE OR REPLACE) must set it again.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c2d4e6f8a0b2"
down_revision: str | None = "a9b1c3d5e7f9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTIONS = (
    "fuze_search_stats",  # each change of a page's text: postings, terms, totals
    "fuze_bump_data_version",  # each change of a user's pages, tags, lists, feedback
    "fuze_bookmark_tags_changed",  # each statement that links or unlinks tags
    "fuze_highlights_changed",  # each statement that changes highlights
)


def upgrade() -> None:
    for name in FUNCTIONS:
        op.execute(f"ALTER FUNCTION {name}() SET plan_cache_mode = force_generic_plan")


def downgrade() -> None:
    for name in FUNCTIONS:
        op.execute(f"ALTER FUNCTION {name}() RESET plan_cache_mode")
