"""Access tokens end with their session: logout, a password change and a replayed refresh
token make them answer 401 at once, not when they expire."""

from __future__ import annotations

import time

from jose import jwt

from tests.conftest import Account


async def _me(client, token: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    r = await client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
    return r.status_code, r.json()["error"]["code"] if r.status_code != 200 else ""


async def _second_session(client, account: Account) -> Account:  # type: ignore[no-untyped-def]
    r = await client.post(
        "/api/auth/login", json={"login": account.username, "password": account.password}
    )
    assert r.status_code == 200
    pair = r.json()
    return Account(
        account.username,
        account.email,
        account.password,
        pair["access_token"],
        pair["refresh_token"],
    )


async def test_logout_ends_that_sessions_access_token_and_no_other(client, alice):
    phone = await _second_session(client, alice)
    assert await _me(client, alice.access_token) == (200, "")

    r = await client.post("/api/auth/logout", json={"refresh_token": alice.refresh_token})
    assert r.status_code == 204
    assert await _me(client, alice.access_token) == (401, "session_ended")
    assert await _me(client, phone.access_token) == (200, "")


async def test_logout_with_a_rotated_token_ends_every_access_token_of_the_login(client, alice):
    r = await client.post("/api/auth/refresh", json={"refresh_token": alice.refresh_token})
    rotated = r.json()
    await client.post("/api/auth/logout", json={"refresh_token": rotated["refresh_token"]})
    assert await _me(client, alice.access_token) == (401, "session_ended")
    assert await _me(client, rotated["access_token"]) == (401, "session_ended")


async def test_password_change_ends_every_session_but_not_api_tokens(client, alice):
    phone = await _second_session(client, alice)
    r = await client.post("/api/users/me/tokens", headers=alice.headers, json={"name": "cli"})
    api_token = r.json()["token"]

    r = await client.patch(
        "/api/users/me",
        headers=alice.headers,
        json={"current_password": alice.password, "new_password": "a brand new password"},
    )
    assert r.status_code == 200
    assert await _me(client, alice.access_token) == (401, "session_ended")
    assert await _me(client, phone.access_token) == (401, "session_ended")
    assert await _me(client, api_token) == (200, "")

    r = await client.post(
        "/api/auth/login", json={"login": "alice", "password": "a brand new password"}
    )
    assert await _me(client, r.json()["access_token"]) == (200, "")


async def test_a_replayed_refresh_token_ends_the_familys_access_tokens(client, alice):
    phone = await _second_session(client, alice)
    r = await client.post("/api/auth/refresh", json={"refresh_token": alice.refresh_token})
    rotated = r.json()
    assert await _me(client, rotated["access_token"]) == (200, "")

    r = await client.post("/api/auth/refresh", json={"refresh_token": alice.refresh_token})
    assert r.json()["error"]["code"] == "refresh_token_reused"
    assert await _me(client, alice.access_token) == (401, "session_ended")
    assert await _me(client, rotated["access_token"]) == (401, "session_ended")
    assert await _me(client, phone.access_token) == (200, "")


async def test_a_deleted_api_token_stops_at_once(client, alice):
    r = await client.post("/api/users/me/tokens", headers=alice.headers, json={"name": "cli"})
    created = r.json()
    assert await _me(client, created["token"]) == (200, "")
    await client.delete(f"/api/users/me/tokens/{created['id']}", headers=alice.headers)
    assert await _me(client, created["token"]) == (401, "invalid_token")


async def test_a_well_signed_token_without_a_session_is_refused(client, alice, settings):
    """Tokens signed before sessions were revocable carry no `sid`: the client refreshes."""
    claims = jwt.get_unverified_claims(alice.access_token)
    del claims["sid"]
    claims["exp"] = int(time.time()) + 600
    token = jwt.encode(claims, settings.resolved_secret_key(), algorithm="HS256")
    assert await _me(client, token) == (401, "invalid_token")


async def test_a_session_of_another_user_is_refused(client, alice, bob, settings):
    """A token naming bob's live session with alice as its subject is not alice's session."""
    claims = jwt.get_unverified_claims(alice.access_token)
    claims["sid"] = jwt.get_unverified_claims(bob.access_token)["sid"]
    token = jwt.encode(claims, settings.resolved_secret_key(), algorithm="HS256")
    assert await _me(client, token) == (401, "session_ended")


async def test_revocation_reaches_another_api_process(api, api_user, live_client):
    """Logout on one process (the in-process app) ends the token on another (uvicorn)."""
    assert await _me(api, api_user.access_token) == (200, "")
    r = await live_client.post("/api/auth/logout", json={"refresh_token": api_user.refresh_token})
    assert r.status_code == 204
    assert await _me(api, api_user.access_token) == (401, "session_ended")
