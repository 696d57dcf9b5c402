"""Every failure answers in one JSON shape: {"error": {"code", "message", "details"?}}."""

from __future__ import annotations


def _assert_shape(r, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert err["code"] == code
    assert isinstance(err["message"], str) and err["message"]
    assert err["request_id"] == r.headers["x-request-id"]
    return err


async def test_unknown_api_route(client):
    _assert_shape(await client.get("/api/nothing/here"), 404, "not_found")
    _assert_shape(await client.post("/api/nothing"), 404, "not_found")


async def test_wrong_method(client):
    err = _assert_shape(await client.delete("/api/auth/login"), 405, "method_not_allowed")
    assert "method" in err["message"].lower()


async def test_malformed_json(client):
    r = await client.post(
        "/api/auth/login", content=b'{"login": "a", ', headers={"Content-Type": "application/json"}
    )
    err = _assert_shape(r, 422, "validation_error")
    assert err["details"][0]["type"] == "json_invalid"


async def test_wrong_types_say_which_field(client):
    r = await client.post("/api/auth/login", json={"login": 5, "password": ["x"]})
    err = _assert_shape(r, 422, "validation_error")
    fields = {tuple(d["loc"]) for d in err["details"]}
    assert ("body", "login") in fields and ("body", "password") in fields


async def test_a_huge_body_is_a_413_and_nothing_is_created(client):
    big = "x" * (3 * 1024 * 1024)
    r = await client.post(
        "/api/auth/register", json={"username": "huge", "email": "h@example.com", "password": big}
    )
    err = _assert_shape(r, 413, "payload_too_large")
    assert err["details"]["limit_bytes"] > 0
    r = await client.post("/api/auth/login", json={"login": "huge", "password": "whatever"})
    assert r.status_code == 401


async def test_a_huge_streamed_body_without_length_is_a_413(client):
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(64):
            yield b"y" * 65536

    r = await client.post(
        "/api/auth/login", content=chunks(), headers={"Content-Type": "application/json"}
    )
    _assert_shape(r, 413, "payload_too_large")


async def test_request_id_is_kept_or_made(client):
    r = await client.get("/api/health", headers={"X-Request-ID": "client-chosen-id-123"})
    assert r.headers["x-request-id"] == "client-chosen-id-123"
    r = await client.get("/api/health", headers={"X-Request-ID": "bad id with spaces\n"})
    assert r.headers["x-request-id"] != "bad id with spaces\n"
    assert len(r.headers["x-request-id"]) == 32


async def test_cors_allows_the_spa_and_extensions_only(client):
    for origin in ("http://localhost:5173", "chrome-extension://abcdefghijklmnop"):
        r = await client.options(
            "/api/auth/login",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == origin
    r = await client.options(
        "/api/auth/login",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in r.headers


async def test_openapi_documents_errors_and_operation_ids(client):
    spec = (await client.get("/openapi.json")).json()
    login = spec["paths"]["/api/auth/login"]["post"]
    assert login["operationId"] == "auth-login"
    assert {"401", "422", "429"} <= set(login["responses"])
    assert login["summary"]
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op.get("summary"), f"{method} {path} has no summary"


async def test_every_documented_422_is_what_the_api_answers(client, alice):
    spec = (await client.get("/openapi.json")).json()
    ours = {"$ref": "#/components/schemas/ErrorResponse"}
    takes_input = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            invalid = operation["responses"].get("422")
            if operation.get("parameters") or operation.get("requestBody"):
                takes_input += 1
                assert invalid, f"{method} {path} takes input and documents no 422"
            if invalid:
                schema = invalid["content"]["application/json"]["schema"]
                assert schema == ours, f"{method} {path} documents another 422"
    assert takes_input > 50
    assert not {"HTTPValidationError", "ValidationError"} & set(spec["components"]["schemas"])
    # One of the operations whose only input is an id in the path, as documented.
    r = await client.get("/api/bookmarks/not-an-id", headers=alice.headers)
    err = _assert_shape(r, 422, "validation_error")
    assert err["details"][0]["loc"] == ["path", "bookmark_id"]


async def test_spa_fallback_does_not_swallow_api_paths(client):
    r = await client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    _assert_shape(await client.get("/api"), 404, "not_found")


async def test_nul_characters_are_a_4xx_never_a_500(client, alice):
    r = await client.post("/api/auth/login", json={"login": "a\u0000b", "password": "x"})
    _assert_shape(r, 422, "validation_error")
    r = await client.post("/api/auth/token", data={"username": "a\x00b", "password": "x"})
    _assert_shape(r, 401, "invalid_credentials")
    r = await client.get("/api/bookmarks?q=a%00b", headers=alice.headers)
    _assert_shape(r, 400, "invalid_characters")
    r = await client.patch("/api/users/me", headers=alice.headers, json={"display_name": "x\u0000"})
    _assert_shape(r, 422, "validation_error")
