"""Bad input is a 4xx in the one error shape, never a 500: text PostgreSQL cannot store,
numbers and times out of its ranges, addresses no browser could open, a missing context id,
and an edit racing the deletion of what it edits."""

from __future__ import annotations

import base64
import logging
import uuid

import pytest
from sqlalchemy import select

from app.db import bind_system, bind_user
from app.errors import NotFound
from app.projects import service as projects_service
from app.projects.schemas import ProjectUpdate, SubtaskUpdate, TaskUpdate
from app.users.models import User
from tests.conftest import register_and_login


def _is_error(r, status: int = 422) -> dict:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] and body["error"]["message"], body
    return body["error"]


async def test_a_lone_surrogate_in_a_body_is_a_422(client, alice):
    # "\ud83d" is half of an emoji: valid JSON, but no UTF-8 text can hold it.
    for body in (
        b'{"url": "https://example.com/s", "tags": ["\\ud83d"]}',
        b'{"url": "https://example.com/\\udfff"}',
        b'{"url": "https://example.com/s", "notes": "a \\udc00 b"}',
    ):
        r = await client.post(
            "/api/bookmarks",
            headers={**alice.headers, "content-type": "application/json"},
            content=body,
        )
        assert "lone surrogate" in _is_error(r)["message"]
    r = await client.post(
        "/api/projects",
        headers={**alice.headers, "content-type": "application/json"},
        content=b'{"title": "p", "technologies": ["\\ud800"]}',
    )
    _is_error(r)


async def test_undecodable_bytes_in_a_query_never_fail(client, alice):
    # Percent-escapes of a surrogate's UTF-8 bytes decode to replacement characters.
    for path in ("/api/search?q=%ED%A0%BD", "/api/bookmarks?tag=%ED%A0%BD%FF"):
        r = await client.get(path, headers=alice.headers)
        assert r.status_code == 200, r.text


async def test_a_version_out_of_range_is_a_422(client, alice):
    saved = await client.post(
        "/api/bookmarks", headers=alice.headers, json={"url": "https://example.com/v"}
    )
    for version in (2**70, 2**31, -1, 0):
        r = await client.patch(
            f"/api/bookmarks/{saved.json()['id']}",
            headers=alice.headers,
            json={"notes": "x", "version": version},
        )
        _is_error(r)
    project = await client.post("/api/projects", headers=alice.headers, json={"title": "p"})
    r = await client.post(
        f"/api/projects/{project.json()['id']}/tasks",
        headers=alice.headers,
        json={"title": "t", "position": 2**70},
    )
    _is_error(r)


@pytest.mark.parametrize(
    "when", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0000-01-01T00:00:00Z"]
)
async def test_a_search_time_out_of_range_is_a_422(client, alice, when):
    for name in ("saved_after", "saved_before"):
        r = await client.get("/api/search", headers=alice.headers, params={"q": "x", name: when})
        _is_error(r)


async def test_search_times_at_the_ends_of_the_range_work(client, alice):
    for when in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2026-01-01T00:00:00"):
        r = await client.get(
            "/api/search", headers=alice.headers, params={"q": "x", "saved_after": when}
        )
        assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1/",
        "http://[zz]/",
        "http://[fe80::1%25eth0]/",
        "http://a b.example/ x",
        "http://xn--/",
        "http://xn--a.example/",
        "http://-a-.example/",
        "http://exa%41mple.com/",
        "http://\u2028\ufffe.com/",
        "http://\x01.example/",
        "http://999.1.1.1/",
        "http://example.com:0/",
        "http://example.com:99999/",
        "http://" + "a" * 64 + ".example/",
        "http://" + "a." * 127 + "example/",
    ],
)
async def test_an_address_no_browser_could_open_is_a_422(client, alice, url):
    r = await client.post("/api/bookmarks", headers=alice.headers, json={"url": url})
    assert _is_error(r)["code"] == "invalid_url"


@pytest.mark.parametrize(
    "url",
    [
        "http://[2606:4700::1111]:8080/x",
        "https://bücher.example/straße",
        "http://my_site.example.com/",
        "http://1.1.1.1/",
        "http://xn--bcher-kva.example/",
        "https://example.com/a b",
    ],
)
async def test_unusual_but_valid_addresses_are_saved(client, alice, url):
    r = await client.post("/api/bookmarks", headers=alice.headers, json={"url": url})
    assert r.status_code == 201, r.text


async def test_feedback_with_an_empty_context_id_is_a_422(client, alice):
    r = await client.get("/api/feedback?context_type=text&context_id=", headers=alice.headers)
    _is_error(r)
    r = await client.get("/api/feedback?context_type=text", headers=alice.headers)
    assert _is_error(r)["code"] == "invalid_context"


async def test_an_edit_of_a_row_deleted_since_it_was_read_is_a_404(app, live_client):
    """PATCH read the task, a DELETE committed, then PATCH wrote: the UPDATE matched no row
    (StaleDataError, answered 500). Run the two requests' service calls in that order."""
    account = await register_and_login(live_client)
    h = account.headers
    project = (await live_client.post("/api/projects", headers=h, json={"title": "p"})).json()
    task = (
        await live_client.post(
            f"/api/projects/{project['id']}/tasks",
            headers=h,
            json={"title": "t", "subtasks": [{"title": "s"}]},
        )
    ).json()
    subtask_id = uuid.UUID(task["subtasks"][0]["id"])
    vectors = projects_service.Vectors(None, app.state.redis)

    async def edit_after_delete(read, delete_path, edit):  # type: ignore[no-untyped-def]
        async with app.state.sessionmaker() as session:
            await bind_system(session)
            user = await session.scalar(select(User).where(User.username == account.username))
            await bind_user(session, user.id)
            row = await read(session, user)
            r = await live_client.delete(delete_path, headers=h)
            assert r.status_code == 204, r.text
            with pytest.raises(NotFound):
                await edit(session, user, row)

    await edit_after_delete(
        lambda s, u: projects_service.get_subtask(s, u, subtask_id),
        f"/api/subtasks/{subtask_id}",
        lambda s, u, row: projects_service.update_subtask(
            s, row, SubtaskUpdate(done=True, position=0), vectors
        ),
    )
    for update in (TaskUpdate(status="done"), TaskUpdate(position=0)):
        task = (
            await live_client.post(
                f"/api/projects/{project['id']}/tasks", headers=h, json={"title": "t"}
            )
        ).json()
        await edit_after_delete(
            lambda s, u, t=task: projects_service.get_task(s, u, uuid.UUID(t["id"])),
            f"/api/tasks/{task['id']}",
            lambda s, u, row, d=update: projects_service.update_task(s, u, row, d, vectors),
        )
    await edit_after_delete(
        lambda s, u: projects_service.get_project(s, u, uuid.UUID(project["id"])),
        f"/api/projects/{project['id']}",
        lambda s, u, row: projects_service.update_project(
            s, u, row, ProjectUpdate(status="done"), vectors
        ),
    )


async def test_a_failed_extraction_of_a_captured_page_is_marked_failed_cleanly(
    app, client, alice, settings, caplog
):
    """_fail kept a captured page by reading `bookmark.html`, a deferred column: a lazy load
    in async code (MissingGreenlet), so the job crashed instead of failing the bookmark."""
    from app.bookmarks import jobs

    caplog.set_level(logging.DEBUG)
    shell = "<html><head><script>app()</script></head><body><div id=root></div></body></html>"
    saved = await client.post(
        "/api/bookmarks",
        headers=alice.headers,
        json={"url": "https://intranet.example/app", "html": shell},
    )
    assert saved.status_code == 201, saved.text
    ctx = {"sessionmaker": app.state.sessionmaker, "redis": app.state.redis, "settings": settings}
    outcome = await jobs.extract_bookmark(ctx, saved.json()["id"], 1)
    assert outcome.startswith("failed: extract_"), outcome
    b = (await client.get(f"/api/bookmarks/{saved.json()['id']}", headers=alice.headers)).json()
    assert b["status"] == "failed" and b["error_code"].startswith("extract_")
    assert not [r for r in caplog.records if "MissingGreenlet" in r.getMessage()]
    assert not [r for r in caplog.records if r.exc_info and "Greenlet" in repr(r.exc_info[1])]


def _raw(base: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """One request over a plain socket (httpx would refuse to send some of these)."""
    import socket
    from urllib.parse import urlsplit

    where = urlsplit(base)
    with socket.create_connection((where.hostname, where.port), timeout=30) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def _json_error(status: int, headers: dict[str, str], body: bytes, expected: int) -> dict:
    import json

    assert status == expected, body[:300]
    assert headers["content-type"].startswith("application/json"), headers
    error = json.loads(body)["error"]
    assert error["code"] and error["message"]
    return error


async def test_an_overlong_address_is_a_json_414_from_the_server_itself(api_server):
    """uvicorn's httptools answered a 100,000-byte query string with a plain-text 400; it now
    refuses anything over the limit with a 414 in the error shape, as the app does."""
    import asyncio

    from app.limits import MAX_TARGET_BYTES

    for length in (100_000, MAX_TARGET_BYTES + 1):
        request = b"GET /api/health?q=" + b"a" * length + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        answer = await asyncio.to_thread(_raw, api_server, request)
        error = _json_error(*answer, expected=414)
        assert error["code"] == "uri_too_long"
        assert error["details"]["limit_bytes"] == MAX_TARGET_BYTES
    # Just under the limit is an ordinary request.
    query = b"a" * (MAX_TARGET_BYTES - len(b"/api/health?q="))
    request = b"GET /api/health?q=" + query + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    status, _, body = await asyncio.to_thread(_raw, api_server, request)
    assert status == 200, body[:300]


async def test_a_request_the_server_cannot_parse_gets_a_json_400(api_server):
    import asyncio

    for request in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"):
        answer = await asyncio.to_thread(_raw, api_server, request)
        assert _json_error(*answer, expected=400)["code"] == "bad_request"


async def test_the_app_refuses_an_overlong_address_under_any_server(client):
    from app.limits import MAX_TARGET_BYTES

    r = await client.get("/api/search", params={"q": "a" * MAX_TARGET_BYTES})
    assert _is_error(r, 414)["code"] == "uri_too_long"
    assert r.headers["x-request-id"]


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


FORGED_CURSORS = [
    "!!!",
    _b64("not json"),
    _b64('"text"'),
    _b64("-5"),
    _b64("true"),
    _b64("[1]"),
    _b64('[{"dt": 5}, "x"]'),
    _b64('["2026-12-04T10:00:00+00:00", "not a uuid"]'),
    _b64('[[], "c0ffee00-0000-0000-0000-000000000000"]'),
]


async def test_every_paged_list_refuses_a_forged_cursor(client, alice):
    r = await client.post(
        "/api/imports",
        headers=alice.headers,
        files={"file": ("links.txt", b"https://example.com/a\n", "text/plain")},
    )
    assert r.status_code in (201, 202), r.text
    lists = [
        ("/api/bookmarks", {}),
        ("/api/projects", {}),
        ("/api/search", {"q": "anything"}),
        ("/api/highlights", {}),
        ("/api/highlights", {"q": "anything", "mode": "keyword"}),
        ("/api/imports", {}),
        (f"/api/imports/{r.json()['id']}/entries", {}),
        ("/api/duplicates", {}),
    ]
    for path, params in lists:
        assert (await client.get(path, headers=alice.headers, params=params)).status_code == 200
        for cursor in FORGED_CURSORS:
            r = await client.get(path, headers=alice.headers, params={**params, "cursor": cursor})
            assert _is_error(r)["code"] == "invalid_cursor", (path, params, cursor, r.text)
