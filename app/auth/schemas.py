from __future__ import annotations

from pydantic import BaseModel, Field

from app.schemas import Input


class LoginRequest(Input):
    login: str = Field(min_length=1, max_length=320, description="Username or email.")
    password: str = Field(min_length=1, max_length=1024)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")


class RefreshRequest(Input):
    refresh_token: str = Field(min_length=1, max_length=200)


class LogoutRequest(Input):
    refresh_token: str = Field(min_length=1, max_length=200)
