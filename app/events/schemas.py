from __future__ import annotations

from pydantic import BaseModel, Field


class StreamTicket(BaseModel):
    ticket: str = Field(description="Opens GET /api/events?ticket=... once.")
    expires_in: int = Field(description="Seconds within which the ticket must be used.")
