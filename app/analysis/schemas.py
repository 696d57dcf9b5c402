"""What Gemini is asked to return (sent as its response schema) and what the API shows."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

AnalysisStatus = Literal["pending", "ready", "skipped", "failed"]
ContentType = Literal[
    "article",
    "tutorial",
    "documentation",
    "reference",
    "video",
    "paper",
    "repository",
    "discussion",
    "news",
    "course",
    "tool",
    "other",
]
Difficulty = Literal["beginner", "intermediate", "advanced"]
Goal = Literal["learn", "build", "debug", "research"]


# --- Gemini's structured answers (google-genai `response_schema`) -------------------------


class PageAnalysis(BaseModel):
    """One saved page, as Gemini reads it."""

    summary: str = Field(description="Two or three plain sentences: what the page says.")
    key_concepts: list[str] = Field(description="Up to 8 ideas a reader learns from it.")
    content_type: ContentType
    difficulty: Difficulty = Field(description="The reader it is written for.")
    technologies: list[str] = Field(
        description="Languages, frameworks, libraries, tools and services it is about, "
        "with their usual names (e.g. PostgreSQL, React, Kubernetes). Empty if none."
    )
    topics: list[str] = Field(description="Up to 5 broad subjects, e.g. databases, security.")
    suggested_tags: list[str] = Field(
        description="Up to 5 tags; prefer the user's existing tags listed in the prompt."
    )


class ProjectIntent(BaseModel):
    """What the user is trying to do with a project."""

    goal: Goal
    summary: str = Field(description="One sentence: what the user wants to achieve.")
    skills: list[str] = Field(description="Up to 8 skills the project needs.")
    concepts: list[str] = Field(description="Up to 8 concepts worth reading about for it.")
    technologies: list[str] = Field(description="Technologies it involves.")


class ProposedSubtask(BaseModel):
    title: str


class ProposedTask(BaseModel):
    title: str
    description: str = Field(description="One or two sentences; empty if the title says it all.")
    subtasks: list[ProposedSubtask] = Field(description="2 to 6 concrete steps.")


class Breakdown(BaseModel):
    """Tasks that would get a project done, in order."""

    tasks: list[ProposedTask]


# --- API ----------------------------------------------------------------------------------


class AnalysisOut(BaseModel):
    """Gemini's reading of a bookmark (with your own key)."""

    model_config = ConfigDict(from_attributes=True)

    status: AnalysisStatus
    error_code: str | None = None
    error_message: str | None = None
    summary: str | None = None
    key_concepts: list[str] = []
    content_type: ContentType | None = None
    difficulty: Difficulty | None = None
    technologies: list[str] = []
    topics: list[str] = []
    suggested_tags: list[str] = Field(
        default=[],
        description="Tags for this bookmark, mostly ones you already use; not applied until "
        "you add them (PATCH /api/bookmarks/{id} with `tags`).",
    )
    model: str | None = None
    analysed_at: datetime | None = None
