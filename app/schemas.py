"""Shared request-schema behaviour: what every value that enters must be for the database to
take it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, model_validator

# PostgreSQL's `integer`: a larger number can be neither stored nor compared with one.
MAX_INT = 2**31 - 1

# Lone UTF-16 surrogates: JSON's "\ud83d" escape decodes to one, but no UTF-8 text (so no
# PostgreSQL text, and no JSON answer either) can hold it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _text_problem(value: Any) -> str | None:
    if isinstance(value, str):
        if "\x00" in value:
            return "text must not contain NUL (\\u0000) characters; is this binary data?"
        if _SURROGATE.search(value):
            return "text must be valid Unicode (a lone surrogate such as \\ud83d is not)"
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            if problem := _text_problem(k) or _text_problem(v):
                return problem
    elif isinstance(value, list | tuple):
        for v in value:
            if problem := _text_problem(v):
                return problem
    return None


class Input(BaseModel):
    """Base of every request body: text that PostgreSQL cannot store (NUL characters, which
    only binary data has, and lone surrogates) is refused with a 422 instead of failing later."""

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        if problem := _text_problem(data):
            raise ValueError(problem)
        return data


def _storable_instant(value: datetime) -> datetime:
    """An aware time PostgreSQL's timestamptz can take: a time without an offset is UTC, and one
    whose UTC date falls outside years 1-9999 (`0001-01-01T00:00:00+14:00`) is refused."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("the time is out of range (years 1 to 9999, in UTC)") from exc


Instant = Annotated[datetime, AfterValidator(_storable_instant)]
