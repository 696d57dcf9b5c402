from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from app.bookmarks.schemas import BookmarkOut
from app.feedback.schemas import FeedbackContext
from app.schemas import Input


class RecommendationsQuery(BaseModel):
    """The query parameters of a project's, task's or subtask's recommendations
    (app.params.QueryModel)."""

    limit: int = Field(10, ge=1, le=50)
    include_attached: bool = Field(
        False, description="Also list items already saved to this context."
    )
    list_: uuid.UUID | None = Field(
        None,
        alias="list",
        description="Only recommend bookmarks in this list (404 if not yours).",
    )
    sublists: bool = Field(False, description="With `list`: its sub-lists' bookmarks too.")


class RecommendationFeatures(BaseModel):
    """What the score was made of, for people who want to see the arithmetic."""

    similarity: float = Field(description="Cosine similarity of meaning with the context.")
    semantic_rank: int | None
    keyword_rank: int | None
    technologies: list[str] = Field(description="The context's technologies this item covers.")
    intent_fit: float = Field(description="0-1: how its type and difficulty suit the goal.")
    marked_relevant: bool
    similar_to_relevant: int = Field(description="Items you marked relevant that it resembles.")


class Recommendation(BaseModel):
    bookmark: BookmarkOut
    score: float = Field(description="0-1 before feedback; feedback can lift it above 1.")
    reasons: list[str]
    features: RecommendationFeatures
    weak: bool = Field(
        description="Scored below every item that something ties to the context (the "
        "relevance floor): a weaker match, listed after the others (all are weak when nothing "
        "in the library matches this well)."
    )


class Recommendations(BaseModel):
    items: list[Recommendation]
    context: FeedbackContext = Field(description="Send it back with POST /api/feedback.")
    cached: bool = Field(description="Served from the cache (still current: see data_version).")
    data_version: int = Field(description="Your data's version these were computed for.")


class TextContext(Input):
    text: str = Field(min_length=1, max_length=4000, description="What you are working on.")
    technologies: list[str] = Field(default_factory=list, max_length=30)
    limit: int = Field(default=10, ge=1, le=50)
    include_attached: bool = False
    list_id: uuid.UUID | None = Field(
        default=None, description="Only recommend bookmarks in this list (404 if not yours)."
    )
    sublists: bool = Field(default=False, description="With `list_id`: its sub-lists' too.")
