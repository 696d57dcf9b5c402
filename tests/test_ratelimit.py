"""Rate limits: per IP, per user, stricter on sign-in, shared by replicas through Redis, and
still enforced (in-process) when Redis is down."""

from __future__ import annotations

import logging

import httpx

from app.main import create_app
from tests.conftest import make_settings


def _client(app, ip: str = "127.0.0.1") -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def _assert_429(r: httpx.Response) -> None:
    assert r.status_code == 429, r.text
    retry = int(r.headers["retry-after"])
    assert 1 <= retry <= 60 * 15
    err = r.json()["error"]
    assert err["code"] == "rate_limited"
    assert err["details"]["retry_after"] == retry


async def test_sign_in_attempts_are_limited_per_ip(app, db, redis, monkeypatch):
    monkeypatch.setattr(app.state.settings, "rate_limit_auth_ip_per_minute", 5)
    async with _client(app, "203.0.113.7") as c, _client(app, "203.0.113.8") as other:
        for _ in range(5):
            r = await c.post("/api/auth/login", json={"login": "x", "password": "y"})
            assert r.status_code == 401
        _assert_429(await c.post("/api/auth/login", json={"login": "x", "password": "y"}))
        _assert_429(await c.post("/api/auth/register", json={}))
        # Another address is not punished for it.
        r = await other.post("/api/auth/login", json={"login": "x", "password": "y"})
        assert r.status_code == 401


async def test_replicas_share_the_counters(app, db, redis, monkeypatch, stack, settings):
    monkeypatch.setattr(app.state.settings, "rate_limit_auth_ip_per_minute", 5)
    replica = create_app(make_settings(stack, rate_limit_auth_ip_per_minute=5))
    try:
        async with _client(app, "198.51.100.1") as one, _client(replica, "198.51.100.1") as two:
            for c in (one, two, one, two, one):
                r = await c.post("/api/auth/login", json={"login": "x", "password": "y"})
                assert r.status_code == 401
            _assert_429(await two.post("/api/auth/login", json={"login": "x", "password": "y"}))
    finally:
        await replica.state.redis.aclose()
        await replica.state.reads.close()
        await replica.state.engine.dispose()


async def test_requests_are_limited_per_user(client, alice, bob, monkeypatch, app):
    monkeypatch.setattr(app.state.settings, "rate_limit_user_per_minute", 3)
    for _ in range(3):
        assert (await client.get("/api/users/me", headers=alice.headers)).status_code == 200
    _assert_429(await client.get("/api/users/me", headers=alice.headers))
    assert (await client.get("/api/users/me", headers=bob.headers)).status_code == 200


async def test_requests_are_limited_per_ip(client, monkeypatch, app, alice):
    monkeypatch.setattr(app.state.settings, "rate_limit_ip_per_minute", 4)
    codes = [
        (await client.get("/api/users/me", headers=alice.headers)).status_code for _ in range(6)
    ]
    assert codes[:4] == [200] * 4 or codes.count(429) >= 2
    assert codes[-1] == 429
    # Health checks are never limited: load balancers poll them.
    assert (await client.get("/api/health")).status_code == 200


async def test_failed_sign_ins_lock_the_account_for_a_while(client, alice, monkeypatch, app):
    monkeypatch.setattr(app.state.settings, "rate_limit_login_failures", 3)
    async with _client(app, "192.0.2.50") as elsewhere:
        for c in (client, elsewhere, client):
            r = await c.post("/api/auth/login", json={"login": "alice", "password": "guess"})
            assert r.status_code == 401
        # Even the right password waits now, from any address: it is the account under attack.
        _assert_429(
            await elsewhere.post(
                "/api/auth/login", json={"login": "ALICE", "password": alice.password}
            )
        )


async def test_a_successful_sign_in_clears_the_failures(client, alice, monkeypatch, app):
    monkeypatch.setattr(app.state.settings, "rate_limit_login_failures", 3)
    for _ in range(2):
        await client.post("/api/auth/login", json={"login": "alice", "password": "guess"})
    ok = await client.post("/api/auth/login", json={"login": "alice", "password": alice.password})
    assert ok.status_code == 200
    for _ in range(2):
        r = await client.post("/api/auth/login", json={"login": "alice", "password": "guess"})
        assert r.status_code == 401


async def test_redis_down_keeps_serving_and_limiting(app_without_redis, caplog):
    caplog.set_level(logging.WARNING, logger="fuze.ratelimit")
    async with _client(app_without_redis) as c:
        r = await c.post(
            "/api/auth/register",
            json={"username": "norediss", "email": "nr@example.com", "password": "a long password"},
        )
        assert r.status_code == 201
        r = await c.post(
            "/api/auth/login", json={"login": "norediss", "password": "a long password"}
        )
        assert r.status_code == 200
        token = r.json()["access_token"]
        me = await c.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        # The limit is 3 sign-in requests a minute: register, login, and one more.
        r = await c.post("/api/auth/login", json={"login": "x", "password": "y"})
        assert r.status_code == 401
        _assert_429(await c.post("/api/auth/login", json={"login": "x", "password": "y"}))
    assert any("in-process" in rec.getMessage() for rec in caplog.records)
