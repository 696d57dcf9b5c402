from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import email_validator
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from app.auth.scopes import Scope
from app.schemas import Input

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{2,31}$"

# A self-hosted server's people often have addresses on names that are not on the public
# internet: admin@localhost, me@nas.local, test@fuze.test. email-validator refuses these
# special-use names outright (its documented switch is this list); `invalid`, `onion` and
# `arpa` stay refused. Fuze sends no mail, so the address is checked for its form only.
for _name in ("localhost", "local", "test"):
    if _name in email_validator.SPECIAL_USE_DOMAIN_NAMES:
        email_validator.SPECIAL_USE_DOMAIN_NAMES.remove(_name)


def _email(value: str) -> str:
    try:
        checked = email_validator.validate_email(
            value, check_deliverability=False, globally_deliverable=False
        )
    except email_validator.EmailNotValidError as exc:
        # The library speaks in sentences ("An email address must have an @-sign."); the
        # error handler frames it as "Invalid email: ...".
        reason = str(exc).rstrip(".")
        raise ValueError(reason[:1].lower() + reason[1:]) from None
    return checked.normalized


Email = Annotated[
    str,
    Field(max_length=320, json_schema_extra={"format": "email"}),
    AfterValidator(_email),
]


class UserCreate(Input):
    username: str = Field(
        pattern=USERNAME_PATTERN,
        description="3-32 characters: letters, digits, '_', '.', '-'; starts with a letter or digit.",
    )
    email: Email
    password: str = Field(min_length=8, max_length=1024)


class AIProviderOut(BaseModel):
    provider: Literal["openai", "ollama"]
    base_url: str | None
    model: str
    key_last4: str | None


class AIProviderIn(Input):
    provider: Literal["openai", "ollama"] = Field(
        description="openai: any OpenAI-compatible endpoint (OpenAI, OpenRouter, vLLM, LM "
        "Studio); ollama: an Ollama server."
    )
    base_url: str | None = Field(
        default=None,
        max_length=500,
        description="The endpoint, e.g. https://openrouter.ai/api/v1 or http://localhost:11434 "
        "(default: OpenAI's, or a local Ollama).",
    )
    model: str = Field(min_length=1, max_length=200, description="e.g. gpt-4o-mini, llama3.1")
    api_key: str | None = Field(
        default=None, max_length=500, pattern=r"^[\x21-\x7e]+$", description="Kept encrypted."
    )


class AIProviderSaved(BaseModel):
    state: Literal["ok", "unverified"] = Field(
        description="ok: the endpoint answered and has the model; unverified: it could not be "
        "asked (the first analysis will tell)."
    )
    message: str
    analysing: int = Field(description="Saved pages the background pass now analyses with it.")


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    email: str
    display_name: str | None
    created_at: datetime
    is_admin: bool = Field(description="An administrator of this server (the admin pages).")
    has_gemini_key: bool
    gemini_key_last4: str | None = Field(description="The last 4 characters of the stored key.")
    ai_provider: AIProviderOut | None = Field(
        default=None, description="Your own AI other than Gemini (its key is never returned)."
    )
    server_ai: str | None = Field(
        default=None,
        description="The AI the server provides to users without their own (gemini, openai, "
        "ollama), if any.",
    )
    access: Scope = Field(
        default="full",
        description="What this request's credential may do: `full` for a sign-in session, else "
        "the API token's scope.",
    )


class UserUpdate(Input):
    display_name: str | None = Field(default=None, max_length=100)
    email: Email | None = None
    current_password: str | None = Field(default=None, max_length=1024)
    new_password: str | None = Field(default=None, min_length=8, max_length=1024)

    @model_validator(mode="after")
    def _password_change_needs_current(self) -> UserUpdate:
        if (self.new_password or self.email) and not self.current_password:
            raise ValueError("current_password is required to change the password or email")
        return self


class GeminiKeyIn(Input):
    api_key: str = Field(min_length=8, max_length=200, pattern=r"^[\x21-\x7e]+$")


class GeminiKeyCheck(BaseModel):
    state: Literal["ok", "unverified"] = Field(
        description="ok: Gemini accepted the key. unverified: Gemini could not be asked "
        "(unreachable, slow, rate-limited); the key is stored and its first analysis will tell."
    )
    message: str = Field(description="A sentence saying what happened.")


class GeminiKeySaved(UserOut):
    key_check: GeminiKeyCheck
    analysing: int = Field(
        description="Saved pages the background pass now analyses with the key (at most 5000)."
    )


class GeminiKeyTestResult(BaseModel):
    valid: bool
    message: str


class ApiTokenCreate(Input):
    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)
    scope: Scope = Field(
        default="full",
        description="`read`: look only; `write`: also save and change, never delete; `full`: "
        "everything, the account's settings and tokens included.",
    )


class ApiTokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str = Field(description="The first characters of the token, to tell tokens apart.")
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    scope: Scope


class ApiTokenCreated(ApiTokenOut):
    token: str = Field(description="The token itself. Shown once; store it now.")
