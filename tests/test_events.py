"""GET /api/events: a user's status changes, streamed through whichever API process."""

from __future__ import annotations

import asyncio
import json

import httpx

from app.events.service import publish


async def _read_events(client: httpx.AsyncClient, url: str, headers: dict, want: int) -> list:
    events: list[tuple[str, dict]] = []
    async with client.stream("GET", url, headers=headers) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        name = None
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name:
                events.append((name, json.loads(line[6:])))
                if len(events) >= want:
                    break
    return events


async def test_events_reach_only_their_user(api, api_user, api_user2, live_redis):
    other = api_user2
    me = (await api.get("/api/users/me", headers=api_user.headers)).json()
    them = (await api.get("/api/users/me", headers=other.headers)).json()

    reader = asyncio.create_task(_read_events(api, "/api/events", api_user.headers, want=2))
    await asyncio.sleep(0.5)  # let the stream subscribe
    await publish(live_redis, them["id"], "bookmark.status", {"id": "not-yours", "status": "ready"})
    await publish(live_redis, me["id"], "bookmark.status", {"id": "b1", "status": "fetching"})
    await publish(live_redis, me["id"], "bookmark.status", {"id": "b1", "status": "ready"})
    events = await asyncio.wait_for(reader, 10)
    assert events == [
        ("bookmark.status", {"id": "b1", "status": "fetching"}),
        ("bookmark.status", {"id": "b1", "status": "ready"}),
    ]
    await api.delete(
        "/api/users/me/tokens/00000000-0000-0000-0000-000000000000", headers=other.headers
    )


async def test_event_source_can_authenticate_with_a_query_token(api, api_user, live_redis):
    me = (await api.get("/api/users/me", headers=api_user.headers)).json()
    reader = asyncio.create_task(
        _read_events(api, f"/api/events?access_token={api_user.access_token}", {}, want=1)
    )
    await asyncio.sleep(0.5)
    await publish(live_redis, me["id"], "import.progress", {"id": "i1", "processed": 3})
    assert await asyncio.wait_for(reader, 10) == [("import.progress", {"id": "i1", "processed": 3})]


async def test_events_need_a_valid_token(api):
    r = await api.get("/api/events")
    assert r.status_code == 401
    r = await api.get("/api/events?access_token=forged")
    assert r.status_code == 401
