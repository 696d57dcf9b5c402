"""A Gemini key is checked with Gemini (one call for the model's metadata, through the same
client and endpoint as the analyses) before it is stored: a refused key is a 422 and is not
stored; one Gemini could not be asked about is stored and the answer says so. Only a stored
key starts the pass over the pages saved before it."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from sqlalchemy import text

from app.deps import get_settings_dep
from tests.analysis.conftest import ready_bookmark
from tests.conftest import Account
from tests.fakes.gemini import FakeGemini, error_answer

KEY_PATH = "/api/users/me/gemini-key"


@pytest.fixture
def gemini(gemini_fake: FakeGemini) -> Any:
    yield gemini_fake
    gemini_fake.script.clear()


async def _backlog_jobs(redis: Any) -> list[Any]:
    return [j for j in await redis.queued_jobs() if j.function == "analyse_backlog"]


async def _me(client: Any, account: Account) -> dict[str, Any]:
    return (await client.get("/api/users/me", headers=account.headers)).json()


async def test_a_key_gemini_accepts_is_stored_and_the_backlog_starts(
    client, alice, db, gemini, redis
):  # type: ignore[no-untyped-def]
    for _ in range(2):
        await ready_bookmark(client, db, alice)
    key = "alice-works-key-0001"
    gemini.valid_keys.add(key)
    gemini.calls.clear()
    r = await client.put(KEY_PATH, headers=alice.headers, json={"api_key": key})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["key_check"] == {"state": "ok", "message": "Google accepted this key."}
    assert body["analysing"] == 2
    assert body["has_gemini_key"] is True and body["gemini_key_last4"] == "0001"
    # One cheap call, with this key, for the configured model: no generateContent.
    [call] = [c for c in gemini.calls if c.api_key == key]
    assert call.method == "GET" and call.path.startswith("/v1beta/models/")
    assert len(await _backlog_jobs(redis)) == 1


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (None, "API key not valid"),  # the fake answers an unknown key as Gemini does
        (
            error_answer(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers"),
            "unregistered",
        ),
        (
            error_answer(401, "UNAUTHENTICATED", "Request had invalid authentication"),
            "invalid authentication",
        ),
    ],
)
async def test_a_key_gemini_refuses_is_a_422_and_is_not_stored(
    client, alice, gemini, redis, answer, words
):  # type: ignore[no-untyped-def]
    # Alice's working key stays when she types a wrong one over it.
    good = "alice-works-key-0002"
    gemini.valid_keys.add(good)
    assert (
        await client.put(KEY_PATH, headers=alice.headers, json={"api_key": good})
    ).status_code == 200
    await redis.delete("arq:queue")

    bad = "alice-refused-key-9999"
    if answer is not None:
        gemini.valid_keys.add(bad)
        gemini.script[bad] = [answer]
    r = await client.put(KEY_PATH, headers=alice.headers, json={"api_key": bad})
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "gemini_key_refused"
    assert err["message"].startswith("Google refused this key (") and words in err["message"]
    assert err["message"].endswith("It was not saved.")
    assert (await _me(client, alice))["gemini_key_last4"] == "0002"
    assert await _backlog_jobs(redis) == []


async def test_a_refused_first_key_leaves_none_stored(client, bob, db, gemini, redis):  # type: ignore[no-untyped-def]
    r = await client.put(KEY_PATH, headers=bob.headers, json={"api_key": "bob-typo-key-1234"})
    assert r.status_code == 422
    assert (await _me(client, bob))["has_gemini_key"] is False
    stored = await db.scalar(text("SELECT gemini_key_encrypted FROM users WHERE username='bob'"))
    assert stored is None
    assert await _backlog_jobs(redis) == []


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (error_answer(429, "RESOURCE_EXHAUSTED", "Quota exceeded", retry_delay="30s"), "quota"),
        (
            (503, {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}),
            "trouble",
        ),
    ],
)
async def test_a_key_gemini_cannot_check_is_stored_and_says_so(
    client, alice, db, gemini, redis, answer, words
):  # type: ignore[no-untyped-def]
    await ready_bookmark(client, db, alice)
    key = "alice-unchecked-key-0003"
    gemini.script[key] = [answer]  # whatever the key, Gemini answers this once
    r = await client.put(KEY_PATH, headers=alice.headers, json={"api_key": key})
    assert r.status_code == 200, r.text
    check = r.json()["key_check"]
    assert check["state"] == "unverified"
    assert check["message"].startswith("The key was saved but could not be checked: ")
    assert words in check["message"].lower()
    assert r.json()["analysing"] == 1
    assert (await _me(client, alice))["gemini_key_last4"] == "0003"
    assert len(await _backlog_jobs(redis)) == 1


async def test_an_unreachable_gemini_stores_the_key_unverified(client, alice, app, settings):  # type: ignore[no-untyped-def]
    with socket.socket() as sock:  # a port nothing listens on: the connection is refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    nowhere = settings.model_copy(update={"gemini_base_url": f"http://127.0.0.1:{port}/"})
    app.dependency_overrides[get_settings_dep] = lambda: nowhere
    try:
        r = await client.put(KEY_PATH, headers=alice.headers, json={"api_key": "alice-key-0004"})
    finally:
        del app.dependency_overrides[get_settings_dep]
    assert r.status_code == 200, r.text
    check = r.json()["key_check"]
    assert check["state"] == "unverified" and "could not be reached" in check["message"]
    assert (await _me(client, alice))["gemini_key_last4"] == "0004"
