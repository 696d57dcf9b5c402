from __future__ import annotations

import uuid
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, deferred, mapped_column

from app.db import Base, IdMixin, TimestampMixin

EMBEDDING_DIM = 384

PROJECT_STATUSES = ("active", "paused", "done", "archived")
TASK_STATUSES = ("todo", "in_progress", "done")
# How the project's intent was found: queued for Gemini, by Gemini, no key (rules only), or
# Gemini failed (rules only, with the reason).
INTENT_PENDING, INTENT_READY, INTENT_SKIPPED, INTENT_FAILED = (
    "pending",
    "ready",
    "skipped",
    "failed",
)


class Project(IdMixin, TimestampMixin, Base):
    __tablename__ = "projects"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    technologies: Mapped[list[str]] = mapped_column(
        ARRAY(String(64)), default=list, server_default="{}"
    )
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    # {goal: learn|build|debug|research, skills: [..], concepts: [..], technologies: [..],
    #  summary, source: rules|gemini}
    intent: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    intent_status: Mapped[str] = mapped_column(
        String(16), default=INTENT_SKIPPED, server_default=INTENT_SKIPPED
    )
    intent_error: Mapped[str | None] = mapped_column(Text)
    # Bumped whenever the text (title, description, technologies) changes: a job working on
    # an older text sees a different number and stops.
    text_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    embedding: Mapped[list[float] | None] = deferred(mapped_column(Vector(EMBEDDING_DIM)))

    __table_args__ = (
        Index("ix_projects_user_id_created_at", "user_id", "created_at", "id"),
        Index("ix_projects_user_id_status", "user_id", "status"),
    )


class Task(IdMixin, TimestampMixin, Base):
    __tablename__ = "tasks"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="todo", server_default="todo")
    # 0..n-1 within the project, kept dense.
    position: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[list[float] | None] = deferred(mapped_column(Vector(EMBEDDING_DIM)))

    __table_args__ = (
        Index("ix_tasks_user_id_project_id_position", "user_id", "project_id", "position"),
        Index("ix_tasks_project_id", "project_id"),
    )


class Subtask(IdMixin, TimestampMixin, Base):
    __tablename__ = "subtasks"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(500))
    done: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    position: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[list[float] | None] = deferred(mapped_column(Vector(EMBEDDING_DIM)))

    __table_args__ = (
        Index("ix_subtasks_user_id_task_id_position", "user_id", "task_id", "position"),
        Index("ix_subtasks_task_id", "task_id"),
    )
