"""projects, tasks, subtasks and content analysis

Revision ID: c5a1e0d2f3b4
Revises: 7a1f3c2e9d40
Create Date: 2026-11-23 08:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "c5a1e0d2f3b4"
down_revision: str | None = "7a1f3c2e9d40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.id"], name=op.f(f"fk_{table}_user_id_users"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "technologies",
            postgresql.ARRAY(sa.String(length=64)),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("intent", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("intent_status", sa.String(length=16), server_default="skipped", nullable=False),
        sa.Column("intent_error", sa.Text(), nullable=True),
        sa.Column("text_version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("embedding", Vector(384), nullable=True),
        *_timestamps(),
        _user_fk("projects"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
    )
    op.create_index(
        "ix_projects_user_id_created_at", "projects", ["user_id", "created_at", "id"], unique=False
    )
    op.create_index("ix_projects_user_id_status", "projects", ["user_id", "status"], unique=False)

    op.create_table(
        "tasks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="todo", nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("embedding", Vector(384), nullable=True),
        *_timestamps(),
        _user_fk("tasks"),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_tasks_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    op.create_index(
        "ix_tasks_user_id_project_id_position",
        "tasks",
        ["user_id", "project_id", "position"],
        unique=False,
    )
    op.create_index("ix_tasks_project_id", "tasks", ["project_id"], unique=False)

    op.create_table(
        "subtasks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("done", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("embedding", Vector(384), nullable=True),
        *_timestamps(),
        _user_fk("subtasks"),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_subtasks_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subtasks")),
    )
    op.create_index(
        "ix_subtasks_user_id_task_id_position",
        "subtasks",
        ["user_id", "task_id", "position"],
        unique=False,
    )
    op.create_index("ix_subtasks_task_id", "subtasks", ["task_id"], unique=False)

    op.create_table(
        "content_analysis",
        sa.Column("bookmark_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("error_code", sa.String(length=40), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("content_type", sa.String(length=32), nullable=True),
        sa.Column("difficulty", sa.String(length=16), nullable=True),
        sa.Column("technologies", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("key_concepts", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("topics", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column(
            "suggested_tags", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("run", sa.Integer(), server_default="1", nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("analysed_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        _user_fk("content_analysis"),
        sa.ForeignKeyConstraint(
            ["bookmark_id"],
            ["bookmarks.id"],
            name=op.f("fk_content_analysis_bookmark_id_bookmarks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("bookmark_id", name=op.f("pk_content_analysis")),
    )
    op.create_index(
        "ix_content_analysis_user_id_content_type",
        "content_analysis",
        ["user_id", "content_type"],
        unique=False,
    )
    op.create_index(
        "ix_content_analysis_user_id_status",
        "content_analysis",
        ["user_id", "status"],
        unique=False,
    )
    op.create_index(
        "ix_content_analysis_pending_updated_at",
        "content_analysis",
        ["updated_at"],
        unique=False,
        postgresql_where="status = 'pending'",
    )
    # Pages that were ready before analysis existed are queued for it: the worker's sweeper
    # finds pending analyses and runs them (skipped at once for users without a key).
    op.execute(
        "INSERT INTO content_analysis (bookmark_id, user_id, status, run, created_at, updated_at)"
        " SELECT id, user_id, 'pending', run, now(), now() FROM bookmarks WHERE status = 'ready'"
    )


def downgrade() -> None:
    op.drop_index("ix_content_analysis_pending_updated_at", table_name="content_analysis")
    op.drop_index("ix_content_analysis_user_id_status", table_name="content_analysis")
    op.drop_index("ix_content_analysis_user_id_content_type", table_name="content_analysis")
    op.drop_table("content_analysis")
    op.drop_index("ix_subtasks_task_id", table_name="subtasks")
    op.drop_index("ix_subtasks_user_id_task_id_position", table_name="subtasks")
    op.drop_table("subtasks")
    op.drop_index("ix_tasks_project_id", table_name="tasks")
    op.drop_index("ix_tasks_user_id_project_id_position", table_name="tasks")
    op.drop_table("tasks")
    op.drop_index("ix_projects_user_id_status", table_name="projects")
    op.drop_index("ix_projects_user_id_created_at", table_name="projects")
    op.drop_table("projects")
