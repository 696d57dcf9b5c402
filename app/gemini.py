"""The google-genai client, built per user with that user's own key; the endpoint is a setting."""

from __future__ import annotations

import logging
import time

from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from app import metrics
from app.config import Settings
from app.errors import ServiceUnavailable

log = logging.getLogger("fuze.gemini")


def make_client(settings: Settings, api_key: str) -> genai.Client:
    options = types.HttpOptions(
        base_url=settings.gemini_base_url,
        api_version="v1beta",
        timeout=int(settings.gemini_timeout_seconds * 1000),
    )
    return genai.Client(api_key=api_key, http_options=options)


async def check_key(settings: Settings, api_key: str) -> tuple[bool, str]:
    """(valid, message): asks Gemini for the configured model with this key."""
    client = make_client(settings, api_key)
    start = time.perf_counter()
    outcome = "ok"
    try:
        model = await client.aio.models.get(model=settings.gemini_model)
    except genai_errors.ClientError as exc:
        outcome = f"http_{exc.code}"
        if exc.code in (400, 401, 403):
            return False, f"Gemini refused this key: {exc.message or exc.status}"
        if exc.code == 404:
            return False, f"The key works but the model {settings.gemini_model!r} was not found."
        if exc.code == 429:
            return True, "The key is valid but its quota is exhausted right now."
        return False, f"Gemini answered {exc.code}: {exc.message or exc.status}"
    except genai_errors.ServerError as exc:
        outcome = f"http_{exc.code}"
        raise ServiceUnavailable(
            f"Gemini is having trouble ({exc.code}); try again later."
        ) from exc
    except Exception as exc:  # transport errors (the SDK has its own httpx fork), timeouts
        outcome = "unreachable"
        log.warning("gemini unreachable: %s", exc)
        raise ServiceUnavailable("Gemini could not be reached from this server.") from exc
    finally:
        metrics.gemini_call("check_key", outcome, time.perf_counter() - start)
        try:
            await client.aio.aclose()
        except Exception:
            log.debug("closing the gemini client failed", exc_info=True)
    return True, f"The key works with {model.display_name or model.name or settings.gemini_model}."
