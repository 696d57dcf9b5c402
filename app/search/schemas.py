from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from app.analysis.schemas import ContentType
from app.bookmarks.schemas import BookmarkOut, Status
from app.schemas import Instant

Mode = Literal["hybrid", "semantic", "keyword"]
MAX_QUERY = 1000


class SearchQuery(BaseModel):
    """GET /api/search's query parameters (app.params.QueryModel)."""

    q: str = Field("", max_length=MAX_QUERY, description="What you are looking for.")
    mode: Mode = "hybrid"
    tag: str | None = Field(None, max_length=64)
    status: Status | None = None
    saved_after: Instant | None = None
    saved_before: Instant | None = None
    content_type: ContentType | None = Field(
        None, description="Only items Gemini analysed as this type."
    )
    limit: int = Field(20, ge=1, le=100)
    cursor: str | None = Field(None, max_length=100)


class SearchHit(BaseModel):
    bookmark: BookmarkOut
    score: float = Field(description="0-1: how well it matches (fused rank for hybrid).")
    highlights: list[str] = Field(
        description="Snippets, HTML-escaped, with the matched words in <mark></mark>."
    )
    semantic_rank: int | None = Field(description="Its rank by meaning (1 = closest), if found.")
    keyword_rank: int | None = Field(description="Its rank by keywords, if found.")
    weak: bool = Field(
        description="Ranked below every hit that clears the relevance floor: a weaker match "
        "(all are weak when nothing in the library matches this well)."
    )


class SearchResults(BaseModel):
    items: list[SearchHit]
    next_cursor: str | None
    mode: Mode = Field(description="The mode used (hybrid falls back to keyword without a model).")


class SimilarHit(BaseModel):
    bookmark: BookmarkOut
    score: float = Field(description="Cosine similarity, -1 to 1.")


class SimilarResults(BaseModel):
    items: list[SimilarHit]
