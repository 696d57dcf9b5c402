from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from app.schemas import Input
from app.users.schemas import UserCreate


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


class RegisterRequest(UserCreate):
    invite_code: str | None = Field(
        default=None, max_length=100, description="Needed when the server's sign-up is `invite`."
    )


class AuthConfig(BaseModel):
    signup: Literal["open", "invite", "closed"] = Field(
        description="Who may create an account: anyone, people with an invite code, or only "
        "administrators."
    )
    first_account: bool = Field(
        description="No account exists yet: the next sign-up is allowed whatever the policy, "
        "and makes the server's administrator."
    )
