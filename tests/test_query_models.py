"""The routes that read their query parameters into one model (app.params.QueryModel): the
library, search and recommendations. A bad value is the API's 422 naming the parameter, as
for any other route; a parameter given twice counts its last value; an unknown one is
ignored; and OpenAPI documents each parameter."""

from __future__ import annotations

import uuid


def _bad(r, *names: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert {tuple(d["loc"]) for d in error["details"]} == {("query", n) for n in names}
    assert error["message"].startswith(f"Invalid query.{names[0]}: ")
    return error  # type: ignore[no-any-return]


async def test_bad_values_are_a_422_naming_each_parameter(client, alice):
    h = alice.headers
    _bad(await client.get("/api/bookmarks?limit=0", headers=h), "limit")
    _bad(
        await client.get("/api/bookmarks?status=done&list=not-a-uuid&read=maybe", headers=h),
        "status",
        "read",
        "list",
    )
    _bad(await client.get(f"/api/bookmarks?cursor={'c' * 501}", headers=h), "cursor")
    _bad(await client.get("/api/search?q=x&mode=fuzzy&limit=101", headers=h), "mode", "limit")
    _bad(await client.get("/api/search?q=x&saved_after=yesterday", headers=h), "saved_after")
    _bad(await client.get(f"/api/search?q={'q' * 1001}", headers=h), "q")
    project = await client.post("/api/projects", headers=h, json={"title": "Query models"})
    assert project.status_code == 201, project.text
    recs = f"/api/projects/{project.json()['id']}/recommendations"
    _bad(await client.get(f"{recs}?limit=51&include_attached=perhaps", headers=h), "limit",
         "include_attached")  # fmt: skip
    # Authentication comes first: a stranger learns nothing of the parameters.
    assert (await client.get("/api/bookmarks?limit=0")).status_code == 401


async def test_a_parameter_given_twice_counts_its_last_value(client, alice):
    h = alice.headers
    for n in range(3):
        r = await client.post(
            "/api/bookmarks", headers=h, json={"url": f"https://example.com/twice/{n}"}
        )
        assert r.status_code == 201
    page = await client.get("/api/bookmarks?limit=0&limit=2", headers=h)
    assert page.status_code == 200 and len(page.json()["items"]) == 2
    _bad(await client.get("/api/bookmarks?limit=2&limit=0", headers=h), "limit")
    # Unknown parameters are ignored; known ones still apply.
    page = await client.get("/api/bookmarks?limit=1&colour=blue", headers=h)
    assert page.status_code == 200 and len(page.json()["items"]) == 1
    assert page.json()["next_cursor"]
    # The aliases: `list` (of another user's, or no list: 404), `status`.
    missing = await client.get(f"/api/bookmarks?list={uuid.uuid4()}", headers=h)
    assert missing.status_code == 404
    pending = await client.get("/api/bookmarks?status=pending&limit=50", headers=h)
    assert len(pending.json()["items"]) == 3
    ready = await client.get("/api/bookmarks?status=ready", headers=h)
    assert ready.json()["items"] == []


async def test_openapi_documents_each_parameter(client):
    spec = (await client.get("/openapi.json")).json()
    expected = {
        ("/api/bookmarks", "get"): {
            "q", "tag", "url", "status", "shelf", "read", "favorite", "list", "sublists",
            "sort", "cursor", "limit",
        },
        ("/api/search", "get"): {
            "q", "mode", "tag", "status", "saved_after", "saved_before", "content_type",
            "limit", "cursor",
        },
        ("/api/projects/{project_id}/recommendations", "get"): {
            "project_id", "limit", "include_attached", "list", "sublists",
        },
    }  # fmt: skip
    for (path, method), names in expected.items():
        op = spec["paths"][path][method]
        documented = {p["name"]: p for p in op["parameters"]}
        assert set(documented) == names, path
        assert all(p["in"] == "query" for n, p in documented.items() if n != "project_id")
        assert op["responses"]["422"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorResponse"
        }
    limit = {p["name"]: p for p in spec["paths"]["/api/bookmarks"]["get"]["parameters"]}["limit"]
    assert limit["schema"] == {
        "type": "integer", "maximum": 200, "minimum": 1, "default": 50, "title": "Limit"
    }  # fmt: skip
