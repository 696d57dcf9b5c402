"""GET /api/bookmarks?url=: the browser extension asks whether the page it shows is saved."""

from __future__ import annotations


async def test_url_filter_finds_the_bookmark_after_normalisation(client, alice, bob):
    saved = await client.post(
        "/api/bookmarks",
        headers=alice.headers,
        json={"url": "https://example.com/guide/?b=2&a=1", "tags": ["docs"]},
    )
    await client.post(
        "/api/bookmarks", headers=alice.headers, json={"url": "https://example.com/other"}
    )

    # The address as the browser shows it: other case, order, tracking parameters, fragment.
    r = await client.get(
        "/api/bookmarks",
        headers=alice.headers,
        params={"url": "HTTPS://Example.com/guide?a=1&b=2&utm_source=feed#part-2"},
    )
    assert r.status_code == 200
    items = r.json()["items"]
    assert [i["id"] for i in items] == [saved.json()["id"]]
    assert items[0]["tags"] == ["docs"]

    missing = await client.get(
        "/api/bookmarks", headers=alice.headers, params={"url": "https://example.com/never"}
    )
    assert missing.json()["items"] == []
    # Another user's bookmark of the same address is not theirs to see.
    other = await client.get(
        "/api/bookmarks", headers=bob.headers, params={"url": "https://example.com/guide?a=1&b=2"}
    )
    assert other.json()["items"] == []


async def test_url_filter_refuses_what_is_not_a_web_address(client, alice):
    r = await client.get(
        "/api/bookmarks", headers=alice.headers, params={"url": "chrome://extensions"}
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_url"
