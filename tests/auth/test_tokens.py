"""Access tokens that must not work: forged, `alg: none`, expired, refresh tokens, wrong type."""

from __future__ import annotations

import base64
import json
import time

from jose import jwt


def _claims(who: dict[str, str], **over):  # type: ignore[no-untyped-def]
    now = int(time.time())
    claims = {"type": "access", "iss": "fuze", "iat": now, "nbf": now, "exp": now + 600}
    claims.update(who)
    claims.update(over)
    return claims


async def _identity(client, account) -> dict[str, str]:
    """The account's user id and login session: what a forged token would claim."""
    assert (await client.get("/api/users/me", headers=account.headers)).status_code == 200
    claims = jwt.get_unverified_claims(account.access_token)
    return {"sub": claims["sub"], "sid": claims["sid"]}


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def _status(client, token: str) -> tuple[int, str]:
    r = await client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
    return r.status_code, r.json()["error"]["code"] if r.status_code != 200 else ""


async def test_no_token_is_a_401_with_www_authenticate(client):
    r = await client.get("/api/users/me")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"]["code"] == "not_authenticated"


async def test_a_token_signed_with_another_key_is_refused(client, alice, settings):
    who = await _identity(client, alice)
    forged = jwt.encode(_claims(who), "some-other-secret-" + "y" * 30, algorithm="HS256")
    assert await _status(client, forged) == (401, "invalid_token")


async def test_alg_none_is_refused(client, alice):
    who = await _identity(client, alice)
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(who))}."
    assert await _status(client, unsigned) == (401, "invalid_token")
    # Also with the header claiming HS256 but the signature stripped.
    stripped = alice.access_token.rsplit(".", 1)[0] + "."
    assert await _status(client, stripped) == (401, "invalid_token")


async def test_another_algorithm_with_our_key_is_refused(client, alice, settings):
    who = await _identity(client, alice)
    other_alg = jwt.encode(_claims(who), settings.resolved_secret_key(), algorithm="HS512")
    assert await _status(client, other_alg) == (401, "invalid_token")


async def test_an_expired_token_is_refused_as_expired(client, alice, settings):
    who = await _identity(client, alice)
    past = int(time.time()) - 3600
    expired = jwt.encode(
        _claims(who, iat=past, nbf=past, exp=past + 60),
        settings.resolved_secret_key(),
        algorithm="HS256",
    )
    assert await _status(client, expired) == (401, "token_expired")


async def test_a_token_that_worked_is_refused_once_it_expires(client, alice, settings):
    """Verified tokens are remembered (no second signature check); their expiry is not."""
    import asyncio

    who = await _identity(client, alice)
    now = int(time.time())
    short = jwt.encode(
        _claims(who, iat=now, nbf=now, exp=now + 2), settings.resolved_secret_key(), "HS256"
    )
    assert await _status(client, short) == (200, "")
    await asyncio.sleep(max(0.0, now + 2.2 - time.time()))
    assert await _status(client, short) == (401, "token_expired")


async def test_a_tampered_payload_is_refused(client, alice, bob):
    bob_who = await _identity(client, bob)
    header, _, signature = alice.access_token.split(".")
    tampered = f"{header}.{_b64(_claims(bob_who))}.{signature}"
    assert await _status(client, tampered) == (401, "invalid_token")


async def test_a_refresh_token_is_not_an_access_token(client, alice):
    assert await _status(client, alice.refresh_token) == (401, "invalid_token")


async def test_a_well_signed_token_of_another_type_is_refused(client, alice, settings):
    who = await _identity(client, alice)
    wrong_type = jwt.encode(
        _claims(who, type="refresh"), settings.resolved_secret_key(), algorithm="HS256"
    )
    assert await _status(client, wrong_type) == (401, "invalid_token")


async def test_a_token_for_a_deleted_user_is_refused(client, alice, db):
    from sqlalchemy import text

    await db.execute(text("DELETE FROM users WHERE username = 'alice'"))
    assert await _status(client, alice.access_token) == (401, "invalid_token")


async def test_garbage_is_refused(client):
    for token in ("abc", "a.b.c", "fza_nope", "Bearer", "x" * 5000):
        code, _ = await _status(client, token)
        assert code == 401, token
    r = await client.get(
        "/api/users/me", headers={"Authorization": "Bearer \xe9t\xe9".encode("latin-1")}
    )
    assert r.status_code == 401


async def test_with_its_database_down_a_replica_answers_503_in_the_error_shape(stack):  # type: ignore[no-untyped-def]
    import uuid

    import httpx

    from app.auth.security import create_access_token
    from app.embedded import free_port
    from app.main import create_app
    from tests.conftest import close_app, make_settings

    gone = f"postgresql://fuze:x@127.0.0.1:{free_port()}/fuze"
    replica = create_app(make_settings(stack, database_url=gone))
    token, _ = create_access_token(replica.state.settings, uuid.uuid4(), uuid.uuid4())
    try:
        transport = httpx.ASGITransport(app=replica, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "database_unavailable"
    finally:
        await close_app(replica)
