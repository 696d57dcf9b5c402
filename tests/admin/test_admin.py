"""Who may use the server: the sign-up policy, the first account as administrator, invite
codes, the admin API, disabling an account, per-user bookmark quotas."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.cli import run_migrations
from app.main import create_app
from tests.conftest import (
    Account,
    Stack,
    _SavepointSession,
    as_operator,
    bind_to,
    close_app,
    make_settings,
    register_and_login,
)
from tests.imports.test_api import run_parse, upload

PASSWORD = "correct horse battery staple"
MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def empty(db: AsyncConnection) -> AsyncConnection:
    """No account yet, as on a new server (inside the test's transaction)."""
    await db.execute(text("DELETE FROM users"))
    return db


@pytest.fixture
async def make_client(
    stack: Stack, db: AsyncConnection, redis: object
) -> AsyncIterator[MakeClient]:
    """Clients of apps with their own settings (a sign-up policy, a quota), on the test's
    transaction."""
    made: list[tuple[object, httpx.AsyncClient]] = []

    async def make(**overrides: object) -> httpx.AsyncClient:
        application = create_app(make_settings(stack, **overrides))
        bind_to(application, db, sync_session_class=_SavepointSession)
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        c = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        made.append((application, c))
        return c

    yield make
    for application, c in made:
        await c.aclose()
        await close_app(application)  # type: ignore[arg-type]


def _body(name: str, **extra: object) -> dict[str, object]:
    return {"username": name, "email": f"{name}@example.com", "password": PASSWORD, **extra}


async def _login(client: httpx.AsyncClient, name: str) -> Account:
    r = await client.post("/api/auth/login", json={"login": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    tokens = r.json()
    return Account(
        name, f"{name}@example.com", PASSWORD, tokens["access_token"], tokens["refresh_token"]
    )


async def _me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})


def _code(r: httpx.Response) -> str:
    return r.json()["error"]["code"]


async def test_the_first_account_is_the_administrator_and_the_next_is_not(client, empty):  # type: ignore[no-untyped-def]
    r = await client.get("/api/auth/config")
    assert r.json() == {"signup": "open", "first_account": True}
    r = await client.post("/api/auth/register", json=_body("root"))
    assert r.status_code == 201 and r.json()["is_admin"] is True
    r = await client.post("/api/auth/register", json=_body("second"))
    assert r.status_code == 201 and r.json()["is_admin"] is False
    assert (await client.get("/api/auth/config")).json()["first_account"] is False
    second = await _login(client, "second")
    assert (await _me(client, second.access_token)).json()["is_admin"] is False
    r = await client.get("/api/admin/users", headers=second.headers)
    assert r.status_code == 403 and _code(r) == "admin_only"
    root = await _login(client, "root")
    r = await client.get("/api/admin/users", headers=root.headers)
    assert [u["username"] for u in r.json()["items"]] == ["root", "second"]


async def test_two_first_sign_ups_at_once_make_one_administrator(stack):  # type: ignore[no-untyped-def]
    """On a new server with sign-up closed, several first sign-ups race: exactly one account
    is made (the administrator); the others are refused by the policy."""
    name = f"fuze_first_{secrets.token_hex(4)}"
    base, _ = stack.database_url.rsplit("/", 1)
    admin_dsn = base.replace("postgresql+asyncpg", "postgresql") + "/postgres"
    conn = await asyncpg.connect(admin_dsn)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = f"{base}/{name}"
    application = None
    try:
        await asyncio.to_thread(run_migrations, url)
        application = create_app(make_settings(stack, database_url=url, signup="closed"))
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            results = await asyncio.gather(
                *[c.post("/api/auth/register", json=_body(f"first{i}")) for i in range(4)]
            )
        made = [r for r in results if r.status_code == 201]
        assert len(made) == 1 and made[0].json()["is_admin"] is True, [r.text for r in results]
        assert {_code(r) for r in results if r.status_code != 201} == {"signup_closed"}
    finally:
        if application is not None:
            await close_app(application)
        conn = await asyncpg.connect(admin_dsn)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


async def test_invite_policy_needs_a_valid_unexpired_unused_code(make_client, empty):  # type: ignore[no-untyped-def]
    c = await make_client(signup="invite")
    assert (await c.post("/api/auth/register", json=_body("root"))).status_code == 201
    root = await _login(c, "root")
    assert (await c.get("/api/auth/config")).json() == {"signup": "invite", "first_account": False}

    r = await c.post("/api/auth/register", json=_body("nocode"))
    assert r.status_code == 403 and _code(r) == "invite_required"
    r = await c.post("/api/auth/register", json=_body("guess", invite_code="fzi_guessed"))
    assert r.status_code == 403 and _code(r) == "invalid_invite"

    r = await c.post("/api/admin/invites", headers=root.headers, json={"note": "for ann"})
    assert r.status_code == 201, r.text
    once = r.json()
    assert once["state"] == "active" and once["code"].startswith(once["prefix"])
    r = await c.post("/api/auth/register", json=_body("ann", invite_code=once["code"]))
    assert r.status_code == 201 and r.json()["is_admin"] is False
    r = await c.post("/api/auth/register", json=_body("ann2", invite_code=once["code"]))
    assert r.status_code == 403 and _code(r) == "invalid_invite"

    # A code for two: two accounts, not three; a failed sign-up does not spend a use.
    r = await c.post("/api/admin/invites", headers=root.headers, json={"max_uses": 2})
    twice = r.json()["code"]
    r = await c.post("/api/auth/register", json=_body("ann", invite_code=twice))
    assert r.status_code == 409
    for name in ("ben", "cat"):
        r = await c.post("/api/auth/register", json=_body(name, invite_code=twice))
        assert r.status_code == 201, r.text
    r = await c.post("/api/auth/register", json=_body("dan", invite_code=twice))
    assert r.status_code == 403

    r = await c.post("/api/admin/invites", headers=root.headers, json={})
    expired = r.json()
    await empty.execute(
        text("UPDATE invites SET expires_at = :t WHERE id = :id"),
        {"t": datetime.now(UTC) - timedelta(seconds=1), "id": uuid.UUID(expired["id"])},
    )
    r = await c.post("/api/auth/register", json=_body("eve", invite_code=expired["code"]))
    assert r.status_code == 403 and _code(r) == "invalid_invite"

    r = await c.post("/api/admin/invites", headers=root.headers, json={})
    revoked = r.json()
    r = await c.delete(f"/api/admin/invites/{revoked['id']}", headers=root.headers)
    assert r.status_code == 204
    r = await c.post("/api/auth/register", json=_body("fay", invite_code=revoked["code"]))
    assert r.status_code == 403 and _code(r) == "invalid_invite"

    r = await c.get("/api/admin/invites", headers=root.headers)
    states = {i["id"]: (i["state"], i["uses"]) for i in r.json()}
    assert states[once["id"]] == ("used", 1)
    assert states[expired["id"]] == ("expired", 0)
    assert states[revoked["id"]] == ("revoked", 0)
    assert all("code" not in i for i in r.json())


async def test_closed_policy_refuses_sign_up_but_an_admin_creates_accounts(make_client, empty):  # type: ignore[no-untyped-def]
    c = await make_client(signup="closed")
    assert (await c.post("/api/auth/register", json=_body("root"))).status_code == 201
    root = await _login(c, "root")
    r = await c.post("/api/auth/register", json=_body("walkin"))
    assert r.status_code == 403 and _code(r) == "signup_closed"

    r = await c.post("/api/admin/users", headers=root.headers, json=_body("made"))
    assert r.status_code == 201, r.text
    assert r.json()["username"] == "made" and r.json()["is_admin"] is False
    made = await _login(c, "made")
    r = await c.post("/api/admin/users", headers=made.headers, json=_body("other"))
    assert r.status_code == 403
    r = await c.post("/api/admin/users", headers=root.headers, json=_body("deputy", is_admin=True))
    assert r.json()["is_admin"] is True
    r = await c.post("/api/admin/users", headers=root.headers, json=_body("made"))
    assert r.status_code == 409


async def test_a_disabled_accounts_tokens_all_stop_at_once(client, empty):  # type: ignore[no-untyped-def]
    root = await register_and_login(client, "root")
    bob = await register_and_login(client, "bob")
    r = await client.post("/api/users/me/tokens", headers=bob.headers, json={"name": "script"})
    api_token = r.json()["token"]
    bob_id = (await _me(client, bob.access_token)).json()["id"]
    for token in (bob.access_token, api_token):
        assert (await _me(client, token)).status_code == 200

    r = await client.patch(
        f"/api/admin/users/{bob_id}", headers=root.headers, json={"disabled": True}
    )
    assert r.status_code == 200 and r.json()["disabled_at"] is not None
    for token in (bob.access_token, api_token):
        r = await _me(client, token)
        assert r.status_code == 401 and _code(r) == "account_disabled"
    r = await client.post("/api/auth/refresh", json={"refresh_token": bob.refresh_token})
    assert r.status_code == 401
    r = await client.post("/api/auth/login", json={"login": "bob", "password": PASSWORD})
    assert r.status_code == 401 and _code(r) == "account_disabled"

    # Enabled again: a new sign-in works, and the old refresh token stays spent.
    r = await client.patch(
        f"/api/admin/users/{bob_id}", headers=root.headers, json={"disabled": False}
    )
    assert r.json()["disabled_at"] is None
    assert (await _me(client, (await _login(client, "bob")).access_token)).status_code == 200
    r = await client.post("/api/auth/refresh", json={"refresh_token": bob.refresh_token})
    assert r.status_code == 401


async def test_every_admin_route_is_403_for_others_and_401_without_a_token(app, client, alice, bob):  # type: ignore[no-untyped-def]
    routes = [
        (
            method.upper(),
            path.replace("{user_id}", str(uuid.uuid4())).replace("{invite_id}", str(uuid.uuid4())),
        )
        for path, item in app.openapi()["paths"].items()
        if path.startswith("/api/admin")
        for method in item
    ]
    assert len(routes) >= 7
    # alice may be the first account of this test's database, so bob asks.
    for method, path in routes:
        r = await client.request(method, path, headers=bob.headers, json={})
        assert r.status_code == 403, (method, path)
        r = await client.request(method, path, json={})
        assert r.status_code == 401, (method, path)


async def test_the_last_active_administrator_cannot_be_disabled_or_demoted(client, empty):  # type: ignore[no-untyped-def]
    root = await register_and_login(client, "root")
    root_id = (await _me(client, root.access_token)).json()["id"]
    for change in ({"disabled": True}, {"is_admin": False}):
        r = await client.patch(f"/api/admin/users/{root_id}", headers=root.headers, json=change)
        assert r.status_code == 409 and _code(r) == "last_admin"
    r = await client.delete(f"/api/admin/users/{root_id}", headers=root.headers)
    assert r.status_code == 409
    await register_and_login(client, "deputy")
    page = (await client.get("/api/admin/users?q=dep", headers=root.headers)).json()
    assert page["total"] == 1
    deputy_id = page["items"][0]["id"]
    r = await client.patch(
        f"/api/admin/users/{deputy_id}", headers=root.headers, json={"is_admin": True}
    )
    assert r.json()["is_admin"] is True
    r = await client.patch(
        f"/api/admin/users/{root_id}", headers=root.headers, json={"is_admin": False}
    )
    assert r.status_code == 200 and r.json()["is_admin"] is False
    r = await client.get("/api/admin/users", headers=root.headers)
    assert r.status_code == 403


async def test_users_list_and_overview_show_use_and_queues(client, empty, redis):  # type: ignore[no-untyped-def]
    root = await register_and_login(client, "root")
    bob = await register_and_login(client, "bob")
    for i in range(3):
        r = await client.post(
            "/api/bookmarks",
            headers=bob.headers,
            json={"url": f"https://a.example/{i}", "html": "<p>" + "words " * 500 + "</p>"},
        )
        assert r.status_code == 201, r.text
    r = await client.get("/api/admin/users", headers=root.headers)
    rows = {u["username"]: u for u in r.json()["items"]}
    assert rows["bob"]["bookmarks"] == 3 and rows["root"]["bookmarks"] == 0
    assert rows["bob"]["storage_bytes"] > 0 and rows["root"]["storage_bytes"] == 0
    assert rows["bob"]["last_seen_at"] is not None
    assert rows["bob"]["bookmark_quota"] is None

    r = await client.get("/api/admin/overview", headers=root.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["signup"] == "open" and body["users"] == 2 and body["admins"] == 1
    assert body["bookmarks"] == 3 and body["bookmarks_in_progress"] == 3
    queues = {q["name"]: q for q in body["queues"]}
    assert queues["pipeline"]["ready"] == 3  # each save queued its first job (no worker here)
    assert queues["imports"]["ready"] == 0
    assert body["jobs_in_progress"] == 0 and body["database_bytes"] > 0


async def test_saving_past_the_bookmark_quota_is_refused(make_client, empty):  # type: ignore[no-untyped-def]
    c = await make_client(max_bookmarks_per_user=2)
    root = await register_and_login(c, "root")
    bob = await register_and_login(c, "bob")

    async def save(user: Account, n: int) -> httpx.Response:
        return await c.post(
            "/api/bookmarks", headers=user.headers, json={"url": f"https://q.example/{n}"}
        )

    assert [(await save(bob, n)).status_code for n in (1, 2)] == [201, 201]
    r = await save(bob, 3)
    assert r.status_code == 403 and _code(r) == "quota_exceeded"
    assert r.json()["error"]["details"] == {"quota": 2}
    assert (await save(bob, 1)).status_code == 200  # saving again what is saved is fine

    bob_id = (await _me(c, bob.access_token)).json()["id"]
    r = await c.patch(
        f"/api/admin/users/{bob_id}", headers=root.headers, json={"bookmark_quota": 3}
    )
    assert r.json()["bookmark_quota"] == 3
    assert (await save(bob, 3)).status_code == 201
    assert (await save(bob, 4)).status_code == 403
    r = await c.patch(
        f"/api/admin/users/{bob_id}", headers=root.headers, json={"bookmark_quota": 0}
    )
    assert (await save(bob, 4)).status_code == 201  # 0: no limit for bob


async def test_an_import_stops_at_the_quota_with_a_reason_per_entry(make_client, empty):  # type: ignore[no-untyped-def]
    c = await make_client(max_bookmarks_per_user=3)
    await register_and_login(c, "root")
    bob = await register_and_login(c, "bob")
    r = await c.post("/api/bookmarks", headers=bob.headers, json={"url": "https://i.example/0"})
    assert r.status_code == 201
    lines = b"".join(f"https://i.example/{n}\n".encode() for n in range(6))
    r = await upload(c, bob, "links.txt", lines)
    assert r.status_code == 202, r.text
    import_id = r.json()["id"]
    await run_parse(c._transport.app, import_id)  # type: ignore[attr-defined]
    body = (await c.get(f"/api/imports/{import_id}", headers=bob.headers)).json()
    assert (body["imported"], body["duplicates"], body["invalid"]) == (2, 1, 3)
    r = await c.get(f"/api/imports/{import_id}/entries?outcome=invalid", headers=bob.headers)
    entries = r.json()["items"]
    assert [e["url"] for e in entries] == [f"https://i.example/{n}" for n in (3, 4, 5)]
    assert {e["reason_code"] for e in entries} == {"quota_exceeded"}
    r = await c.get("/api/bookmarks", headers=bob.headers)
    assert len(r.json()["items"]) == 3


async def test_concurrent_saves_cannot_pass_the_quota_together(stack, redis):  # type: ignore[no-untyped-def]
    application = create_app(make_settings(stack, max_bookmarks_per_user=3))
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    name = "race" + uuid.uuid4().hex[:8]
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            user = await register_and_login(c, name)
            results = await asyncio.gather(
                *[
                    c.post(
                        "/api/bookmarks",
                        headers=user.headers,
                        json={"url": f"https://race.example/{n}"},
                    )
                    for n in range(8)
                ]
            )
        codes = sorted(r.status_code for r in results)
        assert codes == [201] * 3 + [403] * 5, [r.text for r in results]
    finally:
        async with as_operator(application.state.engine) as conn:
            await conn.execute(text("DELETE FROM users WHERE username = :u"), {"u": name})
        await close_app(application)


async def test_upgrading_makes_the_oldest_account_admin_and_keeps_disabled_ones(stack):  # type: ignore[no-untyped-def]
    from alembic import command
    from app.cli import alembic_config

    name = f"fuze_upgrade_{secrets.token_hex(4)}"
    base = stack.database_url.rsplit("/", 1)[0]
    admin = await asyncpg.connect(stack.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{base}/{name}"
    config = alembic_config(url)
    try:
        await asyncio.to_thread(command.upgrade, config, "e2f3a4b5c6d7")
        conn = await asyncpg.connect(url)
        try:
            for i, active in enumerate((True, False, True)):
                await conn.execute(
                    "INSERT INTO users (id, username, email, password_hash, is_active,"
                    " created_at, updated_at) VALUES (gen_random_uuid(), $1::text,"
                    " $1::text || '@example.com', '-', $2, now() + $3 * interval '1 s', now())",
                    f"u{i}", active, i,
                )  # fmt: skip
        finally:
            await conn.close()
        await asyncio.to_thread(command.upgrade, config, "f2b3c4d5e6f7")
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch(
                "SELECT username, is_admin, disabled_at IS NOT NULL AS disabled FROM users"
                " ORDER BY username"
            )
            assert [tuple(r) for r in rows] == [
                ("u0", True, False),
                ("u1", False, True),
                ("u2", False, False),
            ]
        finally:
            await conn.close()
        await asyncio.to_thread(command.downgrade, config, "e2f3a4b5c6d7")
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("SELECT username, is_active FROM users ORDER BY username")
            assert [tuple(r) for r in rows] == [("u0", True), ("u1", False), ("u2", True)]
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_deleting_an_account_deletes_the_files_kept_for_it(client, empty, settings):  # type: ignore[no-untyped-def]
    """Uploads and PDFs are kept as files in the data folder, not in the database: they go
    with the account, as its rows do."""
    root = await register_and_login(client, "root")
    owner = await register_and_login(client, "leaving")
    owner_id = (await _me(client, owner.access_token)).json()["id"]
    r = await client.post(
        "/api/bookmarks/upload",
        headers=owner.headers,
        files={"file": ("notes.txt", b"Field notes on tide pools and anemones.", "text/plain")},
    )
    assert r.status_code == 201, r.text
    kept = settings.data_dir / "archives" / owner_id
    assert [p.name for p in kept.iterdir()] == [f"{r.json()['id']}.txt"]
    r = await client.delete(f"/api/admin/users/{owner_id}", headers=root.headers)
    assert r.status_code == 204
    assert not kept.exists()
