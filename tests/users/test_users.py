"""Profile, password change, personal API tokens, and the Gemini key kept encrypted."""

from __future__ import annotations

from sqlalchemy import text


async def test_profile_read_and_update(client, alice):
    r = await client.patch(
        "/api/users/me", headers=alice.headers, json={"display_name": "Alice A."}
    )
    assert r.status_code == 200
    assert r.json()["display_name"] == "Alice A."
    assert (await client.get("/api/users/me", headers=alice.headers)).json()[
        "display_name"
    ] == "Alice A."


async def test_email_change_needs_the_current_password_and_stays_unique(client, alice, bob):
    r = await client.patch("/api/users/me", headers=alice.headers, json={"email": "a2@example.com"})
    assert r.status_code == 422
    r = await client.patch(
        "/api/users/me",
        headers=alice.headers,
        json={"email": "BOB@example.com", "current_password": alice.password},
    )
    assert r.status_code == 409
    r = await client.patch(
        "/api/users/me",
        headers=alice.headers,
        json={"email": "a2@example.com", "current_password": alice.password},
    )
    assert r.status_code == 200 and r.json()["email"] == "a2@example.com"


async def test_password_change_signs_other_sessions_out(client, alice):
    r = await client.patch(
        "/api/users/me",
        headers=alice.headers,
        json={"current_password": "wrong password", "new_password": "a brand new password"},
    )
    assert r.status_code == 401
    r = await client.patch(
        "/api/users/me",
        headers=alice.headers,
        json={"current_password": alice.password, "new_password": "a brand new password"},
    )
    assert r.status_code == 200
    old = await client.post("/api/auth/login", json={"login": "alice", "password": alice.password})
    assert old.status_code == 401
    new = await client.post(
        "/api/auth/login", json={"login": "alice", "password": "a brand new password"}
    )
    assert new.status_code == 200
    r = await client.post("/api/auth/refresh", json={"refresh_token": alice.refresh_token})
    assert r.status_code == 401


async def test_personal_api_token_is_shown_once_and_works_until_deleted(client, alice, db):
    r = await client.post("/api/users/me/tokens", headers=alice.headers, json={"name": "script"})
    assert r.status_code == 201
    created = r.json()
    raw = created["token"]
    assert raw.startswith("fza_") and created["prefix"] == raw[:12]

    listed = (await client.get("/api/users/me/tokens", headers=alice.headers)).json()
    assert [t["name"] for t in listed] == ["script"]
    assert "token" not in listed[0] and raw not in str(listed)
    stored = (await db.execute(text("SELECT token_hash FROM api_tokens"))).scalars().all()
    assert raw not in stored and len(stored) == 1

    me = await client.get("/api/users/me", headers={"Authorization": f"Bearer {raw}"})
    assert me.status_code == 200 and me.json()["username"] == "alice"
    used = (await client.get("/api/users/me/tokens", headers=alice.headers)).json()[0]
    assert used["last_used_at"] is not None

    r = await client.delete(f"/api/users/me/tokens/{created['id']}", headers=alice.headers)
    assert r.status_code == 204
    me = await client.get("/api/users/me", headers={"Authorization": f"Bearer {raw}"})
    assert me.status_code == 401


async def test_expired_api_token_is_refused(client, alice, db):
    r = await client.post(
        "/api/users/me/tokens", headers=alice.headers, json={"name": "short", "expires_in_days": 1}
    )
    raw = r.json()["token"]
    await db.execute(text("UPDATE api_tokens SET expires_at = now() - interval '1 minute'"))
    me = await client.get("/api/users/me", headers={"Authorization": f"Bearer {raw}"})
    assert me.status_code == 401
    assert me.json()["error"]["code"] == "token_expired"


async def test_another_users_token_id_answers_404(client, alice, bob):
    r = await client.post("/api/users/me/tokens", headers=alice.headers, json={"name": "mine"})
    token_id = r.json()["id"]
    r = await client.delete(f"/api/users/me/tokens/{token_id}", headers=bob.headers)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    missing = await client.delete(
        "/api/users/me/tokens/00000000-0000-0000-0000-000000000000", headers=bob.headers
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == r.json()["error"]["message"]
    assert len((await client.get("/api/users/me/tokens", headers=alice.headers)).json()) == 1


async def test_gemini_key_is_encrypted_at_rest_and_never_returned(client, alice, db, gemini_fake):
    key = "AIzaSyTESTKEY-abcdefghijklmnop-WXYZ"
    gemini_fake.valid_keys.add(key)
    r = await client.put("/api/users/me/gemini-key", headers=alice.headers, json={"api_key": key})
    assert r.status_code == 200
    assert r.json()["has_gemini_key"] is True
    assert r.json()["gemini_key_last4"] == "WXYZ"
    me = await client.get("/api/users/me", headers=alice.headers)
    assert key not in me.text
    blob = (
        await db.execute(text("SELECT gemini_key_encrypted FROM users WHERE username='alice'"))
    ).scalar()
    assert blob and key.encode() not in bytes(blob)

    r = await client.delete("/api/users/me/gemini-key", headers=alice.headers)
    assert r.status_code == 204
    me = (await client.get("/api/users/me", headers=alice.headers)).json()
    assert me["has_gemini_key"] is False and me["gemini_key_last4"] is None


async def test_gemini_key_test_uses_this_users_key(client, alice, bob, gemini_fake):
    r = await client.post("/api/users/me/gemini-key/test", headers=alice.headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "no_gemini_key"

    good, bad = "alice-good-key-0001", "bob-bad-key-0002"
    gemini_fake.valid_keys.update((good, bad))
    await client.put("/api/users/me/gemini-key", headers=alice.headers, json={"api_key": good})
    await client.put("/api/users/me/gemini-key", headers=bob.headers, json={"api_key": bad})
    gemini_fake.valid_keys.discard(bad)  # revoked since it was stored
    gemini_fake.calls.clear()

    r = await client.post("/api/users/me/gemini-key/test", headers=alice.headers)
    assert r.status_code == 200 and r.json()["valid"] is True
    r = await client.post("/api/users/me/gemini-key/test", headers=bob.headers)
    assert r.status_code == 200 and r.json()["valid"] is False
    assert "not valid" in r.json()["message"]
    assert [c.api_key for c in gemini_fake.calls] == [good, bad]


async def test_gemini_key_test_when_gemini_is_down_is_a_503(client, alice, gemini_fake):
    gemini_fake.valid_keys.add("alice-good-key-0001")
    await client.put(
        "/api/users/me/gemini-key", headers=alice.headers, json={"api_key": "alice-good-key-0001"}
    )
    gemini_fake.forced.append((503, {"error": {"code": 503, "message": "overloaded"}}))
    r = await client.post("/api/users/me/gemini-key/test", headers=alice.headers)
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "service_unavailable"
