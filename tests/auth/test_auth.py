"""Registration, login, the OAuth2 form, refresh rotation with reuse detection, logout."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from app.embedded import free_port
from tests.conftest import ROOT, _wait_http, live_redis_url, register_and_login, service_env


async def test_register_returns_the_profile_without_secrets(client):
    r = await client.post(
        "/api/auth/register",
        json={"username": "Carol", "email": "Carol@Example.com", "password": "a long password"},
    )
    assert r.status_code == 201
    body = r.json()
    assert body["username"] == "Carol"
    assert body["has_gemini_key"] is False
    assert "password" not in r.text and "password_hash" not in body


async def test_password_is_stored_as_argon2_hash(client, db):
    await client.post(
        "/api/auth/register",
        json={"username": "dave", "email": "dave@example.com", "password": "a long password"},
    )
    stored = (
        await db.execute(text("SELECT password_hash FROM users WHERE username='dave'"))
    ).scalar()
    assert stored.startswith("$argon2id$")
    assert "a long password" not in stored


async def test_duplicate_username_or_email_is_a_409_case_insensitively(client, alice):
    r = await client.post(
        "/api/auth/register",
        json={"username": "ALICE", "email": "other@example.com", "password": "a long password"},
    )
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "username_taken"
    r = await client.post(
        "/api/auth/register",
        json={"username": "alice2", "email": "ALICE@example.com", "password": "a long password"},
    )
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "email_taken"


async def test_register_validates_its_input(client):
    cases = [
        {"username": "x", "email": "x@example.com", "password": "a long password"},
        {"username": "valid_name", "email": "not-an-email", "password": "a long password"},
        {"username": "valid_name", "email": "v@example.com", "password": "short"},
        {"username": "bad name!", "email": "v@example.com", "password": "a long password"},
    ]
    for body in cases:
        r = await client.post("/api/auth/register", json=body)
        assert r.status_code == 422, body
        err = r.json()["error"]
        assert err["code"] == "validation_error"
        assert err["details"] and err["message"].startswith("Invalid")


async def test_login_with_username_or_email_in_any_case(client, alice):
    for login in ("alice", "ALICE", "Alice@Example.COM"):
        r = await client.post("/api/auth/login", json={"login": login, "password": alice.password})
        assert r.status_code == 200, login
        body = r.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] > 0
        me = await client.get(
            "/api/users/me", headers={"Authorization": f"Bearer {body['access_token']}"}
        )
        assert me.json()["username"] == "alice"


async def test_wrong_password_and_unknown_user_look_the_same(client, alice):
    r1 = await client.post("/api/auth/login", json={"login": "alice", "password": "nope nope"})
    r2 = await client.post("/api/auth/login", json={"login": "nobody", "password": "nope nope"})
    assert r1.status_code == r2.status_code == 401
    assert r1.json()["error"]["code"] == r2.json()["error"]["code"] == "invalid_credentials"
    assert r1.json()["error"]["message"] == r2.json()["error"]["message"]


async def test_oauth2_password_form_for_the_docs_authorize_button(client, alice):
    r = await client.post(
        "/api/auth/token", data={"username": "alice@example.com", "password": alice.password}
    )
    assert r.status_code == 200
    token = r.json()["access_token"]
    me = await client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    spec = (await client.get("/openapi.json")).json()
    flows = spec["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]
    assert flows["password"]["tokenUrl"] == "/api/auth/token"


async def test_refresh_rotates_and_a_replayed_token_revokes_the_family(client, alice):
    r = await client.post("/api/auth/refresh", json={"refresh_token": alice.refresh_token})
    assert r.status_code == 200
    second = r.json()
    assert second["refresh_token"] != alice.refresh_token
    me = await client.get(
        "/api/users/me", headers={"Authorization": f"Bearer {second['access_token']}"}
    )
    assert me.status_code == 200

    # Someone replays the spent token (stolen?): refused, and the whole family is revoked...
    r = await client.post("/api/auth/refresh", json={"refresh_token": alice.refresh_token})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "refresh_token_reused"
    # ...so the legitimate holder of the newest token must sign in again too.
    r = await client.post("/api/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_refresh_token"


async def test_reuse_revokes_only_that_login_family(client, alice):
    other = await client.post(
        "/api/auth/login", json={"login": "alice", "password": alice.password}
    )
    other_refresh = other.json()["refresh_token"]
    await client.post("/api/auth/refresh", json={"refresh_token": alice.refresh_token})
    await client.post("/api/auth/refresh", json={"refresh_token": alice.refresh_token})  # reuse
    r = await client.post("/api/auth/refresh", json={"refresh_token": other_refresh})
    assert r.status_code == 200


async def test_expired_refresh_token_is_refused(client, alice, db):
    await db.execute(text("UPDATE refresh_tokens SET expires_at = now() - interval '1 second'"))
    r = await client.post("/api/auth/refresh", json={"refresh_token": alice.refresh_token})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "refresh_token_expired"


async def test_garbage_refresh_tokens_are_refused(client):
    for token in ("fzr_doesnotexist", "not-even-ours", "x" * 150):
        r = await client.post("/api/auth/refresh", json={"refresh_token": token})
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "invalid_refresh_token"


async def test_logout_revokes_the_refresh_family(client, alice):
    rotated = (
        await client.post("/api/auth/refresh", json={"refresh_token": alice.refresh_token})
    ).json()
    r = await client.post("/api/auth/logout", json={"refresh_token": rotated["refresh_token"]})
    assert r.status_code == 204
    r = await client.post("/api/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert r.status_code == 401


async def test_concurrent_registrations_of_one_name_create_one_account(live_client):
    name = "race" + __import__("uuid").uuid4().hex[:8]
    body = {"username": name, "email": f"{name}@example.com", "password": "a long password"}
    results = await asyncio.gather(
        *[live_client.post("/api/auth/register", json=body) for _ in range(4)]
    )
    codes = sorted(r.status_code for r in results)
    assert codes.count(201) == 1
    assert all(c == 409 for c in codes if c != 201)


async def test_concurrent_refresh_of_one_token_succeeds_once(live_client):
    account = await register_and_login(live_client)
    results = await asyncio.gather(
        *[
            live_client.post("/api/auth/refresh", json={"refresh_token": account.refresh_token})
            for _ in range(3)
        ]
    )
    codes = sorted(r.status_code for r in results)
    assert codes.count(200) == 1
    assert codes.count(401) == 2


@pytest.fixture
def fresh_api(stack) -> Iterator[str]:
    """An API process of its own, started for the test, that has answered nothing but
    /api/health."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "api", "--port", str(port)],
        env=service_env(stack, FUZE_REDIS_URL=live_redis_url(stack)),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_http(f"{base}/api/health", proc, timeout=120)
        yield base
    finally:
        proc.terminate()
        proc.wait(30)


async def test_a_fresh_api_process_answers_a_signed_in_request_first(fresh_api, api_user):
    """A process just started (a restarted replica, a second process of `fuze up`) whose
    first request is a signed-in one answers it: nothing had used the ORM in it before."""
    async with httpx.AsyncClient(base_url=fresh_api, timeout=60) as fresh:
        r = await fresh.get("/api/users/me", headers=api_user.headers)
    assert r.status_code == 200, r.text
    assert r.json()["username"] == api_user.username
