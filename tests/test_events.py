"""GET /api/events: a user's status changes, streamed through whichever API process, opened
with a header or a single-use ticket (never a token in the URL), and closed when the session
behind it ends or its token expires."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from jose import jwt
from sqlalchemy import text

from app.auth.security import create_access_token
from app.events.service import publish
from tests.conftest import Account, make_settings, owner_engine, wait_for

WITHIN = 30.0  # generous: CI runs on a busy 2-core machine


class Stream:
    """One open GET /api/events, read in the background."""

    def __init__(self, client: httpx.AsyncClient, url: str, headers: dict | None = None) -> None:
        self.events: list[tuple[str, Any]] = []
        self.status: int | None = None
        self._connected = asyncio.Event()
        self.task = asyncio.create_task(self._read(client, url, headers or {}))

    async def _read(self, client: httpx.AsyncClient, url: str, headers: dict) -> None:
        try:
            async with client.stream("GET", url, headers=headers) as r:
                self.status = r.status_code
                if r.status_code != 200:
                    return
                assert r.headers["content-type"].startswith("text/event-stream")
                name = None
                async for line in r.aiter_lines():
                    if line == ": connected":  # subscribed: events published now arrive
                        self._connected.set()
                    elif line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: ") and name:
                        self.events.append((name, json.loads(line[6:])))
                        name = None
        finally:
            self._connected.set()

    async def opened(self) -> None:
        await asyncio.wait_for(self._connected.wait(), WITHIN)
        assert self.status == 200 and not self.task.done()

    async def closed(self) -> list[tuple[str, Any]]:
        """The events received, once the server has ended the stream."""
        await asyncio.wait_for(self.task, WITHIN)
        return self.events

    async def received(self, event: tuple[str, Any]) -> None:
        async def seen() -> bool:
            return event in self.events

        await wait_for(seen, WITHIN)

    def cancel(self) -> None:
        self.task.cancel()


async def _ticket(client: httpx.AsyncClient, account: Account) -> str:
    r = await client.post("/api/events/ticket", headers=account.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ticket"].startswith("fzt_") and body["expires_in"] == 60
    return body["ticket"]


async def _user_id(client: httpx.AsyncClient, account: Account) -> str:
    return (await client.get("/api/users/me", headers=account.headers)).json()["id"]


async def test_events_reach_only_their_user(api, api_user, api_user2, live_redis):
    me, them = await _user_id(api, api_user), await _user_id(api, api_user2)
    stream = Stream(api, "/api/events", api_user.headers)
    await stream.opened()
    await publish(live_redis, them, "bookmark.status", {"id": "not-yours", "status": "ready"})
    await publish(live_redis, me, "bookmark.status", {"id": "b1", "status": "fetching"})
    await publish(live_redis, me, "bookmark.status", {"id": "b1", "status": "ready"})
    await stream.received(("bookmark.status", {"id": "b1", "status": "ready"}))
    stream.cancel()
    assert stream.events == [
        ("bookmark.status", {"id": "b1", "status": "fetching"}),
        ("bookmark.status", {"id": "b1", "status": "ready"}),
    ]


async def test_a_ticket_opens_the_stream_of_its_user_once(api, api_user, api_user2, live_redis):
    me, them = await _user_id(api, api_user), await _user_id(api, api_user2)
    ticket = await _ticket(api, api_user)
    stream = Stream(api, f"/api/events?ticket={ticket}")
    await stream.opened()
    await publish(live_redis, them, "import.progress", {"id": "theirs", "processed": 1})
    await publish(live_redis, me, "import.progress", {"id": "i1", "processed": 3})
    await stream.received(("import.progress", {"id": "i1", "processed": 3}))
    stream.cancel()
    assert stream.events == [("import.progress", {"id": "i1", "processed": 3})]

    again = await api.get(f"/api/events?ticket={ticket}")
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "invalid_ticket"


async def test_a_ticket_expires(client, alice, settings, redis, monkeypatch):
    monkeypatch.setattr(settings, "events_ticket_ttl_seconds", 1)
    r = await client.post("/api/events/ticket", headers=alice.headers)
    assert r.json()["expires_in"] == 1
    keys = await redis.keys("fuze:events:ticket:*")
    assert len(keys) == 1  # only a digest: the ticket itself is not stored
    assert r.json()["ticket"] not in keys[0].decode()

    async def gone() -> bool:
        return not await redis.exists(keys[0])

    await wait_for(gone, WITHIN)
    r = await client.get(f"/api/events?ticket={r.json()['ticket']}")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_ticket"


async def test_a_ticket_of_a_session_that_ended_is_refused(client, alice):
    r = await client.post("/api/events/ticket", headers=alice.headers)
    ticket = r.json()["ticket"]
    await client.post("/api/auth/logout", json={"refresh_token": alice.refresh_token})
    r = await client.get(f"/api/events?ticket={ticket}")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "session_ended"


async def test_tickets_need_a_bearer_header_and_tokens_stay_out_of_urls(client, alice):
    r = await client.post("/api/events/ticket")
    assert r.status_code == 401
    for bad in ("forged", alice.access_token):
        r = await client.get(f"/api/events?access_token={bad}")
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "token_in_url"
    for bad in ("fzt_forged", "forged"):
        r = await client.get(f"/api/events?ticket={bad}")
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "invalid_ticket"
    r = await client.get("/api/events")
    assert r.status_code == 401


async def _end_by_logout(api: httpx.AsyncClient, account: Account) -> None:
    r = await api.post("/api/auth/logout", json={"refresh_token": account.refresh_token})
    assert r.status_code == 204


async def _end_by_password_change(api: httpx.AsyncClient, account: Account) -> None:
    r = await api.patch(
        "/api/users/me",
        headers=account.headers,
        json={"current_password": account.password, "new_password": "a brand new password"},
    )
    assert r.status_code == 200


async def _end_by_refresh_reuse(api: httpx.AsyncClient, account: Account) -> None:
    await api.post("/api/auth/refresh", json={"refresh_token": account.refresh_token})
    r = await api.post("/api/auth/refresh", json={"refresh_token": account.refresh_token})
    assert r.json()["error"]["code"] == "refresh_token_reused"


async def _login_again(api: httpx.AsyncClient, account: Account) -> Account:
    r = await api.post(
        "/api/auth/login", json={"login": account.username, "password": account.password}
    )
    pair = r.json()
    return Account(
        account.username,
        account.email,
        account.password,
        pair["access_token"],
        pair["refresh_token"],
    )


@pytest.mark.parametrize(
    ("end", "every_session"),
    [(_end_by_logout, False), (_end_by_refresh_reuse, False), (_end_by_password_change, True)],
    ids=["logout", "refresh-reuse", "password-change"],
)
async def test_open_streams_close_when_their_session_ends(  # type: ignore[no-untyped-def]
    api, api_user, live_redis, end, every_session
):
    me = await _user_id(api, api_user)
    phone = await _login_again(api, api_user)
    mine = Stream(api, f"/api/events?ticket={await _ticket(api, api_user)}")
    phones = Stream(api, "/api/events", phone.headers)
    await mine.opened()
    await phones.opened()

    await end(api, api_user)
    assert await mine.closed() == [("session.ended", {"reason": "revoked"})]
    if every_session:
        assert await phones.closed() == [("session.ended", {"reason": "revoked"})]
    else:  # the user's other session goes on
        await publish(live_redis, me, "bookmark.status", {"id": "b2", "status": "ready"})
        await phones.received(("bookmark.status", {"id": "b2", "status": "ready"}))
        assert not phones.task.done()
        phones.cancel()


async def test_a_stream_closes_on_a_revocation_it_was_not_told_of(api, api_user, stack):
    """A lost pub/sub message (Valkey restarting): the stream still re-reads its session."""
    stream = Stream(api, "/api/events", api_user.headers)
    await stream.opened()
    sid = jwt.get_unverified_claims(api_user.access_token)["sid"]
    engine = owner_engine(stack)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id ="
                    " (SELECT family_id FROM refresh_tokens WHERE id = :sid)"
                ),
                {"sid": uuid.UUID(sid)},
            )
    finally:
        await engine.dispose()
    assert await stream.closed() == [("session.ended", {"reason": "revoked"})]


async def test_a_stream_closes_when_its_token_expires(api, api_user, stack):
    claims = jwt.get_unverified_claims(api_user.access_token)
    short, ttl = create_access_token(
        make_settings(stack, access_token_ttl_seconds=3),
        uuid.UUID(claims["sub"]),
        uuid.UUID(claims["sid"]),
    )
    assert ttl == 3
    r = await api.post("/api/events/ticket", headers={"Authorization": f"Bearer {short}"})
    stream = Stream(api, f"/api/events?ticket={r.json()['ticket']}")
    await stream.opened()
    assert await stream.closed() == [("session.ended", {"reason": "expired"})]
    assert time.time() >= jwt.get_unverified_claims(short)["exp"]
