"""Which AI a user's analyses, project intents and breakdowns use, and the calls to the
providers other than Gemini.

Per user: Gemini with their key (google-genai, app/analysis/service.py), or an
OpenAI-compatible endpoint (OpenAI, OpenRouter, vLLM, LM Studio: the `openai` client), or
Ollama (the `ollama` client), with a base URL, a model and a key kept encrypted as the
Gemini key is, never returned. An operator may set a provider for everyone without their own
(FUZE_LLM_PROVIDER, FUZE_LLM_BASE_URL, FUZE_LLM_MODEL, FUZE_LLM_API_KEY).

Every provider is asked for JSON that fits the same Pydantic model (OpenAI's `json_schema`
response format, Ollama's `format` schema, Gemini's response schema); the answer is
validated by that model, and failures are sorted into the same codes (rate limited, key
refused, model missing, unreachable, bad output...) that the jobs' retries read.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from app.auth import security
from app.config import Settings

T = TypeVar("T", bound=BaseModel)
Kind = Literal["gemini", "openai", "ollama"]
NAMES = {"gemini": "Gemini", "openai": "The OpenAI-compatible endpoint", "ollama": "Ollama"}
UNREADABLE = "unreadable"


@dataclass(frozen=True)
class Provider:
    kind: Kind
    model: str
    api_key: str | None = None
    base_url: str | None = None
    server: bool = False  # the operator's, not the user's own

    @property
    def name(self) -> str:
        return NAMES[self.kind]

    @property
    def ident(self) -> str:
        """Names the provider and key (for remembering a refusal), without holding the key."""
        raw = f"{self.kind}|{self.base_url}|{self.api_key}"
        return hashlib.sha256(raw.encode()).hexdigest()


def provider_of(settings: Settings, user: Any) -> Provider | str | None:
    """The user's own provider, else their Gemini key, else the operator's provider; None
    when there is none; UNREADABLE when the stored key cannot be decrypted."""
    if user.llm_provider in ("openai", "ollama"):
        key = None
        if user.llm_key_encrypted is not None:
            key = security.decrypt_secret(settings, user.llm_key_encrypted)
            if key is None:
                return UNREADABLE
        return Provider(user.llm_provider, user.llm_model or "", key, user.llm_base_url)
    if user.gemini_key_encrypted is not None:
        key = security.decrypt_secret(settings, user.gemini_key_encrypted)
        if key is None:
            return UNREADABLE
        return Provider("gemini", settings.gemini_model, key, settings.gemini_base_url)
    if settings.llm_provider:
        model = settings.llm_model or (
            settings.gemini_model if settings.llm_provider == "gemini" else ""
        )
        base = settings.llm_base_url or (
            settings.gemini_base_url if settings.llm_provider == "gemini" else None
        )
        return Provider(settings.llm_provider, model, settings.llm_api_key, base, server=True)
    return None


def has_ai(settings: Settings, user: Any) -> bool:
    """Whether provider_of() has something for the user, without decrypting a key."""
    return bool(
        user.llm_provider in ("openai", "ollama")
        or user.gemini_key_encrypted is not None
        or settings.llm_provider
    )


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """The model's JSON schema with its $refs inlined (Ollama's format, and small servers,
    do not follow them)."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(defs[node["$ref"].split("/")[-1]])
            return {k: walk(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    return _resolve(model.model_json_schema())


def parse(text: str, schema: type[T], lenient: Any, error: Any, name: str) -> T:
    try:
        return schema.model_validate(lenient(schema, json.loads(text)))
    except (ValueError, ValidationError, TypeError) as exc:
        raise error(
            "gemini_bad_output",
            f"{name}'s answer was not the structured result that was asked for.",
            transient=True,
        ) from exc


def classify_status(
    status: int, detail: str, provider: Provider, error: Any, retry_after: float | None = None
) -> Any:
    """An HTTP refusal of an OpenAI-compatible or Ollama server, as the jobs' error codes."""
    name, model = provider.name, provider.model
    detail = detail.strip()[:300]
    where = f" ({detail})" if detail else ""
    if status == 429:
        return error(
            "gemini_quota_exhausted",
            f"{name}'s rate limit or quota is exhausted{where}.",
            transient=True,
            retry_after=retry_after,
            status=status,
        )
    if status == 401:
        return error(
            "gemini_key_invalid",
            f"{name} did not accept your API key{where}. Change it in Settings.",
            transient=False,
            status=status,
        )
    if status == 403:
        return error(
            "gemini_forbidden",
            f"{name} refused access with your key{where}.",
            transient=False,
            status=status,
        )
    if status == 404:
        return error(
            "gemini_model_not_found",
            f"{name} has no model {model!r}{where}.",
            transient=False,
            status=status,
        )
    if status in (408, 409) or status >= 500:
        return error(
            "gemini_unavailable",
            f"{name} is having trouble ({status}{': ' + detail if detail else ''}).",
            transient=True,
            status=status,
        )
    return error(
        "gemini_bad_request",
        f"{name} refused the request ({status}{': ' + detail if detail else ''}).",
        transient=False,
        status=status,
    )


def _transport(exc: Exception, provider: Provider, error: Any) -> Any:
    if isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__:
        return error("gemini_timeout", f"{provider.name} did not answer in time.", transient=True)
    return error(
        "gemini_unreachable",
        f"{provider.name} could not be reached ({type(exc).__name__}).",
        transient=True,
    )


async def openai_generate(
    provider: Provider,
    system: str,
    prompt: str,
    schema: type[T],
    seconds: float,
    lenient: Any,
    error: Any,
) -> T:
    import openai

    client = openai.AsyncOpenAI(
        api_key=provider.api_key or "none",
        base_url=provider.base_url,
        timeout=seconds,
        max_retries=0,
    )
    try:
        async with asyncio.timeout(seconds):
            response = await client.chat.completions.create(
                model=provider.model,
                messages=[
                    {"role": "system", "content": system},
                    {"role": "user", "content": prompt},
                ],
                temperature=0.2,
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": schema.__name__, "schema": schema_of(schema)},
                },
            )
    except openai.APIStatusError as exc:
        after = exc.response.headers.get("retry-after")
        raise classify_status(
            exc.status_code,
            str(exc.message),
            provider,
            error,
            float(after) if after and after.replace(".", "", 1).isdigit() else None,
        ) from exc
    except (openai.APIConnectionError, TimeoutError, httpx.HTTPError) as exc:
        raise _transport(exc, provider, error) from exc
    finally:
        await client.close()
    choice = response.choices[0] if response.choices else None
    if choice is None or choice.finish_reason == "content_filter":
        raise error("gemini_blocked", f"{provider.name} declined to answer.", transient=False)
    return parse(choice.message.content or "", schema, lenient, error, provider.name)


async def ollama_generate(
    provider: Provider,
    system: str,
    prompt: str,
    schema: type[T],
    seconds: float,
    lenient: Any,
    error: Any,
) -> T:
    import ollama

    headers = {"Authorization": f"Bearer {provider.api_key}"} if provider.api_key else None
    client = ollama.AsyncClient(host=provider.base_url, timeout=seconds, headers=headers)
    try:
        async with asyncio.timeout(seconds):
            response = await client.chat(
                model=provider.model,
                messages=[
                    {"role": "system", "content": system},
                    {"role": "user", "content": prompt},
                ],
                format=schema_of(schema),
                options={"temperature": 0.2},
            )
    except ollama.ResponseError as exc:
        raise classify_status(exc.status_code, str(exc.error), provider, error) from exc
    except (TimeoutError, httpx.HTTPError, ConnectionError) as exc:
        raise _transport(exc, provider, error) from exc
    return parse(response.message.content or "", schema, lenient, error, provider.name)


async def check(provider: Provider, seconds: float) -> tuple[str, str]:
    """Whether the endpoint answers and has the model: ("ok" | "refused" | "unverified",
    what to tell the user). One cheap call: the model list, or Ollama's model details."""
    try:
        async with asyncio.timeout(seconds):
            if provider.kind == "openai":
                import openai

                client = openai.AsyncOpenAI(
                    api_key=provider.api_key or "none",
                    base_url=provider.base_url,
                    timeout=seconds,
                    max_retries=0,
                )
                try:
                    models = [m.id async for m in client.models.list()]
                finally:
                    await client.close()
                if models and provider.model not in models:
                    return (
                        "refused",
                        f"{provider.name} has no model {provider.model!r}; it has {', '.join(models[:8])}.",
                    )
            else:
                import ollama

                headers = (
                    {"Authorization": f"Bearer {provider.api_key}"} if provider.api_key else None
                )
                await ollama.AsyncClient(
                    host=provider.base_url, timeout=seconds, headers=headers
                ).show(provider.model)
    except Exception as exc:
        status = getattr(exc, "status_code", None)
        if status in (401, 403):
            return "refused", f"{provider.name} did not accept the key ({status})."
        if status == 404:
            return "refused", f"{provider.name} has no model {provider.model!r}."
        return (
            "unverified",
            f"{provider.name} could not be asked ({type(exc).__name__}); it is kept, and the first analysis will tell.",
        )
    return "ok", f"{provider.name} answers and has {provider.model}."
