"""Webhooks end to end: a real API process and worker deliver signed events to a local
receiver speaking plain HTTP (as a user's server would), retry a failing one and pause it;
the delivery log says what happened; bad input and other users' ids are refused."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from app.webhooks.service import verify
from tests.conftest import wait_for


class Receiver:
    """A webhook receiver: records each POST (headers, body) and answers `status`."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"received" if receiver.status < 300 else b"broken")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/fuze"

    def events(self) -> list[str]:
        return [h["fuze-event"] for h, _ in self.calls]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


async def _hook(api, user, url: str, events: list[str]) -> dict:  # type: ignore[no-untyped-def]
    r = await api.post("/api/webhooks", headers=user.headers, json={"url": url, "events": events})
    assert r.status_code == 201, r.text
    return r.json()


@pytest.mark.usefixtures("pipeline_worker")
async def test_chosen_events_arrive_signed_and_are_logged(api, api_user, web, receiver):
    hook = await _hook(api, api_user, receiver.url, ["bookmark.saved", "bookmark.ready"])
    assert hook["secret"].startswith("whsec_") and hook["active"] is True
    web.route("/hooked", "<title>Hooked</title><p>A page that a webhook hears about.</p>")
    r = await api.post("/api/bookmarks", headers=api_user.headers, json={"url": web.url("/hooked")})
    bid = r.json()["id"]

    async def arrived() -> bool:
        return sorted(receiver.events()) == ["bookmark.ready", "bookmark.saved"]

    await wait_for(arrived, within=180)
    for headers, body in receiver.calls:
        assert verify(hook["secret"], headers["fuze-signature"], body), headers
        assert not verify("whsec_wrong", headers["fuze-signature"], body)
        assert not verify(hook["secret"], headers["fuze-signature"], body + b" "), "tampered"
        sent = json.loads(body)
        assert sent["event"] == headers["fuze-event"] and sent["id"] == headers["fuze-delivery"]
        assert sent["data"]["id"] == bid
        assert headers["content-type"] == "application/json"
    # bookmark.analysed and the rest were not asked for.
    r = await api.get(f"/api/webhooks/{hook['id']}/deliveries", headers=api_user.headers)
    log = r.json()["items"]
    assert sorted(d["event"] for d in log) == ["bookmark.ready", "bookmark.saved"]
    assert all(
        (d["status"], d["attempts"], d["response_status"]) == ("succeeded", 1, 200) for d in log
    )
    assert log[0]["response_body"] == "received"


@pytest.mark.usefixtures("pipeline_worker")
async def test_a_failing_endpoint_is_retried_then_paused_and_resumed(api, api_user, receiver):
    receiver.status = 500
    hook = await _hook(api, api_user, receiver.url, ["bookmark.saved"])
    url = f"/api/webhooks/{hook['id']}"

    async def settled(n: int):  # type: ignore[no-untyped-def]
        items = (await api.get(f"{url}/deliveries", headers=api_user.headers)).json()["items"]
        return len(items) == n and all(d["status"] == "failed" for d in items)

    for n in (1, 2):
        r = await api.post(f"{url}/test", headers=api_user.headers)
        assert r.status_code == 202 and r.json()["event"] == "ping"
        await wait_for(lambda n=n: settled(n), within=120)
    log = (await api.get(f"{url}/deliveries", headers=api_user.headers)).json()["items"]
    assert [(d["attempts"], d["response_status"], d["error"]) for d in log] == [
        (3, 500, "The endpoint answered HTTP 500.")
    ] * 2, "tried three times each (two retries)"
    assert len(receiver.calls) == 6
    hook_now = (await api.get("/api/webhooks", headers=api_user.headers)).json()["items"][0]
    assert hook_now["active"] is False and hook_now["consecutive_failures"] == 2
    assert hook_now["paused_reason"].startswith("Paused after 2 deliveries in a row failed")

    # Paused: new events are not delivered. Resumed: they are again.
    receiver.status = 200
    r = await api.post(
        "/api/bookmarks", headers=api_user.headers, json={"url": "https://e.example/x"}
    )
    r = await api.patch(url, headers=api_user.headers, json={"active": True})
    assert (
        r.json()["active"]
        and r.json()["consecutive_failures"] == 0
        and not r.json()["paused_reason"]
    )
    r = await api.post(
        "/api/bookmarks", headers=api_user.headers, json={"url": "https://e.example/y"}
    )

    async def delivered() -> bool:
        return receiver.events()[-1:] == ["bookmark.saved"]

    await wait_for(delivered, within=120)
    assert receiver.events().count("bookmark.saved") == 1, "nothing was sent while paused"
    assert json.loads(receiver.calls[-1][1])["data"]["url"] == "https://e.example/y"


async def test_bad_webhooks_are_refused_and_others_are_out_of_reach(client, alice, bob):
    for body in [
        {"url": "http://example.com/hook", "events": ["bookmark.saved"]},
        {"url": "https://example.com/hook", "events": []},
        {"url": "https://example.com/hook", "events": ["bookmark.deleted"]},
        {"url": "not a url at all", "events": ["bookmark.saved"]},
    ]:
        r = await client.post("/api/webhooks", headers=alice.headers, json=body)
        assert r.status_code == 422, (body, r.text)
    r = await client.post(
        "/api/webhooks", headers=alice.headers,
        json={"url": "https://example.com/hook", "events": ["import.done", "bookmark.saved"]},
    )  # fmt: skip
    assert r.status_code == 201 and r.json()["events"] == ["bookmark.saved", "import.done"]
    hid = r.json()["id"]
    assert (
        "secret"
        not in (await client.get("/api/webhooks", headers=alice.headers)).json()["items"][0]
    )
    for method, path in [("PATCH", f"/api/webhooks/{hid}"), ("DELETE", f"/api/webhooks/{hid}"),
                         ("POST", f"/api/webhooks/{hid}/test"), ("GET", f"/api/webhooks/{hid}/deliveries")]:  # fmt: skip
        r = await client.request(
            method, path, headers=bob.headers, json={} if method == "PATCH" else None
        )
        assert r.status_code == 404, (method, path, r.text)
    r = await client.post(
        "/api/users/me/tokens", headers=alice.headers, json={"name": "w", "scope": "write"}
    )
    write = {"Authorization": f"Bearer {r.json()['token']}"}
    r = await client.post(
        "/api/webhooks",
        headers=write,
        json={"url": "https://example.com/h", "events": ["bookmark.saved"]},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "token_scope"
    assert (await client.delete(f"/api/webhooks/{hid}", headers=alice.headers)).status_code == 204
