"""Personal API tokens with a scope: a read token looks and never changes anything, a write
token saves and changes but never deletes nor touches the account, a full token does all."""

from __future__ import annotations


async def _token(client, account, scope: str | None) -> dict[str, str]:  # type: ignore[no-untyped-def]
    body = {"name": f"{scope or 'default'} token"} | ({"scope": scope} if scope else {})
    r = await client.post("/api/users/me/tokens", headers=account.headers, json=body)
    assert r.status_code == 201, r.text
    assert r.json()["scope"] == (scope or "full")
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def test_a_read_token_reads_and_changes_nothing(client, alice):
    r = await client.post(
        "/api/bookmarks", headers=alice.headers, json={"url": "https://s.example/one"}
    )
    bid = r.json()["id"]
    read = await _token(client, alice, "read")

    assert (await client.get("/api/users/me", headers=read)).json()["access"] == "read"
    assert (await client.get("/api/bookmarks", headers=read)).status_code == 200
    assert (await client.get(f"/api/bookmarks/{bid}", headers=read)).status_code == 200
    r = await client.get("/api/search", headers=read, params={"q": "one", "mode": "keyword"})
    assert r.status_code == 200
    r = await client.post("/api/recommendations", headers=read, json={"text": "anything"})
    assert r.status_code == 200, "free-text recommendations only read"
    for method, path, body in [
        ("POST", "/api/bookmarks", {"url": "https://s.example/two"}),
        ("PATCH", f"/api/bookmarks/{bid}", {"notes": "changed"}),
        ("POST", f"/api/bookmarks/{bid}/highlights", {"quote": "x"}),
        ("DELETE", f"/api/bookmarks/{bid}", None),
        ("POST", "/api/projects", {"title": "p"}),
        ("POST", "/api/users/me/tokens", {"name": "escalate", "scope": "full"}),
    ]:
        r = await client.request(method, path, headers=read, json=body)
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["error"]["code"] == "token_scope"
    r = await client.get(f"/api/bookmarks/{bid}", headers=alice.headers)
    assert r.json()["notes"] is None, "nothing changed"
    assert (await client.get("/api/bookmarks", headers=alice.headers)).json()["items"][0][
        "id"
    ] == bid


async def test_a_write_token_saves_and_changes_but_never_deletes(client, alice):
    write = await _token(client, alice, "write")
    r = await client.post("/api/bookmarks", headers=write, json={"url": "https://s.example/w"})
    assert r.status_code == 201, r.text
    bid = r.json()["id"]
    r = await client.patch(f"/api/bookmarks/{bid}", headers=write, json={"tags": ["kept"]})
    assert r.status_code == 200 and r.json()["tags"] == ["kept"]
    assert (await client.delete(f"/api/bookmarks/{bid}", headers=write)).status_code == 403
    r = await client.patch("/api/users/me", headers=write, json={"display_name": "Mallory"})
    assert r.status_code == 403, "the account's settings need a full token"
    r = await client.post("/api/users/me/tokens", headers=write, json={"name": "more"})
    assert r.status_code == 403, "no token can make a stronger one"
    full = await _token(client, alice, None)  # the default: full, as tokens always were
    assert (await client.delete(f"/api/bookmarks/{bid}", headers=full)).status_code == 204


async def test_unknown_scopes_are_refused(client, alice):
    r = await client.post(
        "/api/users/me/tokens", headers=alice.headers, json={"name": "x", "scope": "admin"}
    )
    assert r.status_code == 422


async def test_a_token_may_revoke_itself_but_only_a_full_one_others(client, alice):
    read = await _token(client, alice, "read")
    other = await _token(client, alice, "write")
    tokens = (await client.get("/api/users/me/tokens", headers=alice.headers)).json()
    ids = {t["name"]: t["id"] for t in tokens}
    r = await client.delete(f"/api/users/me/tokens/{ids['write token']}", headers=read)
    assert r.status_code == 403 and r.json()["error"]["code"] == "token_scope"
    r = await client.delete(f"/api/users/me/tokens/{ids['read token']}", headers=read)
    assert r.status_code == 204
    assert (await client.get("/api/bookmarks", headers=read)).status_code == 401
    assert (await client.get("/api/bookmarks", headers=other)).status_code == 200
