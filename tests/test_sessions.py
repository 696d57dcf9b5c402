"""The everyday reads (one bookmark, the library, a search as people type it, cached
recommendations) go through the read pool with no ORM session: the user is found without one
(app.auth.service.Authenticated), and a route opens one only for what needs it (a list or
search filter, a recommendation computed). A session opened after the user is known still
works for that user alone."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI


async def test_everyday_reads_open_no_orm_session_and_filters_open_one(
    client: Any, alice: Any, bob: Any, app: FastAPI
) -> None:
    h = alice.headers
    saved = await client.post(
        "/api/bookmarks", headers=h, json={"url": "https://example.com/a", "tags": ["kept"]}
    )
    assert saved.status_code == 201, saved.text
    bookmark = saved.json()["id"]
    await client.post("/api/bookmarks", headers=bob.headers, json={"url": "https://bob.example/"})
    project = (await client.post("/api/projects", headers=h, json={"title": "Example"})).json()
    recs = f"/api/projects/{project['id']}/recommendations"
    assert (await client.get(recs, headers=h)).json()["cached"] is False
    alists = await client.post("/api/lists", headers=h, json={"name": "Reading"})
    assert alists.status_code == 201, alists.text

    real = app.state.sessionmaker
    opened: list[int] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        opened.append(1)
        return real(*args, **kwargs)

    app.state.sessionmaker = counting
    try:
        for path in (f"/api/bookmarks/{bookmark}", "/api/bookmarks", "/api/search?q=example"):
            r = await client.get(path, headers=h)
            assert r.status_code == 200, (path, r.text)
        assert (await client.get(recs, headers=h)).json()["cached"] is True
        assert opened == []
        # A filter needs the ORM: one session each, working for alice alone.
        r = await client.get("/api/search?q=example&tag=kept", headers=h)
        assert r.status_code == 200, r.text
        assert {i["bookmark"]["id"] for i in r.json()["items"]} <= {bookmark}
        r = await client.get(f"/api/bookmarks?list={alists.json()['id']}", headers=h)
        assert r.status_code == 200 and r.json()["items"] == []
        assert len(opened) == 2
        # Another user's list is not found through that session either.
        r = await client.get(f"/api/bookmarks?list={alists.json()['id']}", headers=bob.headers)
        assert r.status_code == 404
    finally:
        app.state.sessionmaker = real
