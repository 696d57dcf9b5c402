"""`Idempotency-Key` on POST /api/bookmarks: a retried save gets the first answer again."""

from __future__ import annotations

import uuid

from tests.conftest import register_and_login


async def _save(client, account, key: str | None, **body):  # type: ignore[no-untyped-def]
    headers = dict(account.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post("/api/bookmarks", headers=headers, json=body)


async def test_a_repeat_with_the_same_key_gets_the_same_answer(client, alice, redis):
    key = str(uuid.uuid4())
    first = await _save(client, alice, key, url="https://example.com/idem", tags=["a"])
    assert first.status_code == 201
    # The bookmark changes in between: the repeat still answers what the first one did.
    bookmark_id = first.json()["id"]
    r = await client.patch(
        f"/api/bookmarks/{bookmark_id}", headers=alice.headers, json={"notes": "later"}
    )
    assert r.status_code == 200, r.text
    again = await _save(client, alice, key, url="https://example.com/idem", tags=["a"])
    assert again.status_code == 201
    assert again.content == first.content
    page = (await client.get("/api/bookmarks", headers=alice.headers)).json()
    assert [b["id"] for b in page["items"]] == [bookmark_id]
    # One pipeline job: the repeat did not save again.
    assert [j.function for j in await redis.queued_jobs()] == ["fetch_bookmark"]
    # Without a key, the same save is answered afresh (200: already saved).
    plain = await _save(client, alice, None, url="https://example.com/idem", tags=["a"])
    assert plain.status_code == 200


async def test_the_same_key_with_another_body_is_refused(client, alice):
    key = str(uuid.uuid4())
    assert (await _save(client, alice, key, url="https://example.com/one")).status_code == 201
    r = await _save(client, alice, key, url="https://example.com/two")
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "idempotency_key_reused"
    page = (await client.get("/api/bookmarks", headers=alice.headers)).json()
    assert len(page["items"]) == 1


async def test_keys_are_per_user_and_must_be_visible_ascii(client, alice):
    bob = await register_and_login(client, "bob")
    key = str(uuid.uuid4())
    assert (await _save(client, alice, key, url="https://example.com/x")).status_code == 201
    # Bob's same key is his own: his save is new, not Alice's answer.
    r = await _save(client, bob, key, url="https://example.com/y")
    assert r.status_code == 201
    assert r.json()["url"] == "https://example.com/y"
    r = await _save(client, alice, "x" * 256, url="https://example.com/z")
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_idempotency_key"
