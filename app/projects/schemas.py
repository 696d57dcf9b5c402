from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.schemas import MAX_INT, Input

ProjectStatus = Literal["active", "paused", "done", "archived"]
TaskStatus = Literal["todo", "in_progress", "done"]
IntentStatus = Literal["pending", "ready", "skipped", "failed"]

MAX_TECHNOLOGIES = 30


def _clean_title(value: str | None) -> str | None:
    if value is None:
        return None
    value = " ".join(value.split())
    if not value:
        raise ValueError("must not be blank")
    return value


def _clean_technologies(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    out: dict[str, str] = {}
    for value in values:
        name = " ".join(value.split())
        if not name:
            continue
        if len(name) > 64:
            raise ValueError("a technology is at most 64 characters")
        out.setdefault(name.lower(), name)
    if len(out) > MAX_TECHNOLOGIES:
        raise ValueError(f"at most {MAX_TECHNOLOGIES} technologies")
    return list(out.values())


# --- projects -----------------------------------------------------------------------------


class ProjectCreate(Input):
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=20_000)
    technologies: list[str] = Field(
        default_factory=list, description='e.g. ["FastAPI", "Postgres"]'
    )
    status: ProjectStatus = "active"

    _title = field_validator("title")(classmethod(lambda cls, v: _clean_title(v)))
    _tech = field_validator("technologies")(classmethod(lambda cls, v: _clean_technologies(v)))


class ProjectUpdate(Input):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=20_000)
    technologies: list[str] | None = None
    status: ProjectStatus | None = None

    _title = field_validator("title")(classmethod(lambda cls, v: _clean_title(v)))
    _tech = field_validator("technologies")(classmethod(lambda cls, v: _clean_technologies(v)))


class Intent(BaseModel):
    goal: Literal["learn", "build", "debug", "research"] = Field(
        description="What you are trying to do."
    )
    summary: str | None = None
    skills: list[str] = []
    concepts: list[str] = []
    technologies: list[str] = []
    source: Literal["rules", "gemini"] = Field(
        description="`gemini` (with your key) or `rules` (keywords, when there is no key)."
    )


class ProjectOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    description: str | None
    technologies: list[str]
    status: ProjectStatus
    intent: Intent | None = Field(description="What the project is about, for recommendations.")
    intent_status: IntentStatus = Field(
        description="`pending`: Gemini is reading it; `ready`: read by Gemini; `skipped`: no "
        "Gemini key (intent from keywords); `failed`: see `intent_error` (intent from keywords)."
    )
    intent_error: str | None
    task_count: int = 0
    done_task_count: int = 0
    created_at: datetime
    updated_at: datetime


class ProjectPage(BaseModel):
    items: list[ProjectOut]
    next_cursor: str | None


# --- tasks and subtasks -------------------------------------------------------------------


class SubtaskCreate(Input):
    title: str = Field(min_length=1, max_length=500)
    done: bool = False
    position: int | None = Field(
        default=None,
        ge=0,
        le=MAX_INT,
        description="Where to insert it (0 = first); default: at the end.",
    )

    _title = field_validator("title")(classmethod(lambda cls, v: _clean_title(v)))


class SubtaskUpdate(Input):
    title: str | None = Field(default=None, min_length=1, max_length=500)
    done: bool | None = None
    position: int | None = Field(
        default=None, ge=0, le=MAX_INT, description="Move it to this place."
    )

    _title = field_validator("title")(classmethod(lambda cls, v: _clean_title(v)))


class SubtaskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    task_id: uuid.UUID
    title: str
    done: bool
    position: int
    created_at: datetime
    updated_at: datetime


class SubtaskPage(BaseModel):
    items: list[SubtaskOut]
    next_cursor: str | None


class TaskCreate(Input):
    title: str = Field(min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=20_000)
    status: TaskStatus = "todo"
    position: int | None = Field(
        default=None,
        ge=0,
        le=MAX_INT,
        description="Where to insert it (0 = first); default: at the end.",
    )
    subtasks: list[SubtaskCreate] = Field(
        default_factory=list, max_length=50, description="Subtasks to create with it, in order."
    )

    _title = field_validator("title")(classmethod(lambda cls, v: _clean_title(v)))


class TaskUpdate(Input):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=20_000)
    status: TaskStatus | None = None
    position: int | None = Field(
        default=None, ge=0, le=MAX_INT, description="Move it to this place."
    )

    _title = field_validator("title")(classmethod(lambda cls, v: _clean_title(v)))


class TaskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    project_id: uuid.UUID
    title: str
    description: str | None
    status: TaskStatus
    position: int
    subtasks: list[SubtaskOut] = []
    created_at: datetime
    updated_at: datetime


class TaskPage(BaseModel):
    items: list[TaskOut]
    next_cursor: str | None


# --- breakdown ----------------------------------------------------------------------------


class BreakdownRequest(Input):
    instructions: str | None = Field(
        default=None,
        max_length=2000,
        description='Anything Gemini should know, e.g. "I have two weekends".',
    )
    max_tasks: int = Field(default=8, ge=1, le=20)


class ProposedSubtaskOut(BaseModel):
    title: str


class ProposedTaskOut(BaseModel):
    title: str
    description: str | None
    subtasks: list[ProposedSubtaskOut]


class BreakdownProposal(BaseModel):
    project_id: uuid.UUID
    tasks: list[ProposedTaskOut] = Field(
        description="Nothing is saved yet: send the ones you keep (edited as you like) to "
        "POST /api/projects/{id}/breakdown/accept."
    )
    model: str


class BreakdownAccept(Input):
    tasks: list[TaskCreate] = Field(
        min_length=1,
        max_length=50,
        description="The proposed tasks you keep, in order, each with its subtasks; they are "
        "added after the project's existing tasks.",
    )


class CreatedTasks(BaseModel):
    items: list[TaskOut]


def intent_or_none(value: dict[str, Any] | None) -> Intent | None:
    if not value:
        return None
    try:
        return Intent.model_validate(value)
    except ValueError:
        return None
