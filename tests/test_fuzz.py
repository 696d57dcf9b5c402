"""Property-based fuzzing of every operation in the OpenAPI schema (schemathesis), against a
real API process: generated requests, valid (positive) and invalid (negative), signed in as a
test user, must never get a 5xx, and valid ones get answers that match the schema.

Bounded and derandomized, so CI sees the same requests every run: FUZZ_EXAMPLES valid and
FUZZ_NEGATIVE invalid examples per operation (raise them locally to search harder)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import time
import uuid
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)
from sqlalchemy import text

from tests.conftest import owner_engine

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
NEGATIVE = int(os.environ.get("FUZZ_NEGATIVE", "6"))
# Never-ending streams: a generated request would wait for its end forever.
SKIP = {("GET", "/api/events")}


def _seed(base: str, headers: dict[str, str]) -> dict[str, str]:
    """Rows of each kind, so some generated requests reach past the 404 of a random id."""
    with httpx.Client(base_url=base, headers=headers, timeout=30) as c:
        bookmark = c.post("/api/bookmarks", json={"url": "https://example.com/fuzz"}).json()
        project = c.post("/api/projects", json={"title": "Fuzz"}).json()
        task = c.post(
            f"/api/projects/{project['id']}/tasks",
            json={"title": "t", "subtasks": [{"title": "s"}]},
        ).json()
    return {
        "bookmark_id": bookmark["id"],
        "project_id": project["id"],
        "task_id": task["id"],
        "subtask_id": task["subtasks"][0]["id"],
    }


def _fuzz(base: str, headers: dict[str, str]) -> list[str]:
    with httpx.Client(base_url=base, timeout=30) as c:
        spec = c.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    problems: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIP:
            continue
        ids = _seed(base, headers)  # fresh rows: the operation before may have deleted them
        for mode, count in (
            (GenerationMode.POSITIVE, EXAMPLES),
            (GenerationMode.NEGATIVE, NEGATIVE),
        ):
            if count:
                problems += _fuzz_operation(base, headers, ids, operation, mode, count)
    return problems


def _fuzz_operation(  # type: ignore[no-untyped-def]
    base: str, headers: dict[str, str], ids: dict[str, str], operation, mode, count: int
) -> list[str]:
    problems: list[str] = []
    # A documented 503 (not ready, Gemini unreachable) is an answer; any other 5xx is a bug.
    documented = set(operation.definition.raw.get("responses", {}))
    checks = (
        [content_type_conformance, response_schema_conformance]
        if mode is GenerationMode.POSITIVE
        else []
    )
    seen = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report, don't search
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    def run(case: Any) -> None:
        nonlocal seen
        seen += 1
        # Every other case aims at rows that exist (the others keep their random ids).
        if seen % 2 == 0 and case.path_parameters:
            for name in case.path_parameters:
                if name in ids:
                    case.path_parameters[name] = ids[name]
        response = case.call(base_url=base, headers=headers, timeout=30)
        failure = None
        if response.status_code >= 500 and not (
            response.status_code != 500 and str(response.status_code) in documented
        ):
            failure = "a server error"
        elif checks:
            try:
                case.validate_response(response, checks=checks)
            except (AssertionError, BaseExceptionGroup) as exc:
                failure = " | ".join(str(exc).strip().splitlines()[:6])
        if failure:  # every failure is reported at the end
            problems.append(
                f"{mode.value} {operation.method.upper()} {operation.path} -> "
                f"{response.status_code} {response.text[:300]}: {failure}\n"
                f"    {case.as_curl_command()}"
            )

    with contextlib.suppress(Unsatisfiable):  # nothing to make invalid (no parameters)
        run()
    return problems


async def test_no_generated_request_gets_a_server_error(api_server, api_user, stack):
    started = time.monotonic()
    since = await _now(stack)
    async with httpx.AsyncClient(base_url=api_server, headers=api_user.headers) as c:
        me = uuid.UUID((await c.get("/api/users/me")).json()["id"])
    try:
        problems = await asyncio.to_thread(_fuzz, api_server, api_user.headers)
    finally:
        # The fuzzer may rename the test user, and registers users of its own.
        await _drop_users(stack, since, me)
    took = time.monotonic() - started
    assert not problems, f"{len(problems)} problems in {took:.0f} s:\n" + "\n".join(problems)


async def _now(stack: Any) -> Any:
    engine = owner_engine(stack)
    async with engine.connect() as conn:
        value = (await conn.execute(text("SELECT clock_timestamp()"))).scalar()
    await engine.dispose()
    return value


async def _drop_users(stack: Any, since: Any, me: uuid.UUID) -> None:
    engine = owner_engine(stack)
    async with engine.begin() as conn:
        await conn.execute(
            text("DELETE FROM users WHERE created_at >= :t OR id = :me"),
            {"t": since, "me": me},
        )
    await engine.dispose()


# Boundary values that random generation rarely reaches, each sent alone in one field of an
# otherwise valid request: text that is not text (a lone surrogate, NUL), numbers past every
# integer type, times past the calendar, addresses that do not parse, wrong types and nulls.
EDGE_TEXT = ["\ud83d", "a\x00b", "", "x" * 5000, "0001-01-01T00:00:00+14:00", "http://[::1/"]
EDGE_INT = [2**70, -(2**70), 2**31, -1, 0]
EDGE_NUMBER = [1e308, -1e308]
EDGE_QUERY = ["", "-1", str(2**70), "x" * 5000, "0001-01-01T00:00:00+14:00", "\x00", "nan"]
EDGE_ANY = [None, {}, True]


class _Spec:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            node: Any = self.spec
            for part in schema["$ref"].removeprefix("#/").split("/"):
                node = node[part]
            schema = node
        return schema

    def variants(self, schema: dict[str, Any]) -> list[dict[str, Any]]:
        """The schema's alternatives (anyOf/oneOf), resolved, nulls left out."""
        schema = self.resolve(schema)
        options = schema.get("anyOf") or schema.get("oneOf")
        if not options:
            return [schema]
        out = [v for o in options for v in self.variants(o)]
        return [v for v in out if v.get("type") != "null"] or out

    def example(self, schema: dict[str, Any]) -> Any:
        """A small valid value: required fields only."""
        schema = self.variants(schema)[0]
        if "enum" in schema:
            return schema["enum"][0]
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            props = schema.get("properties", {})
            return {k: self.example(props[k]) for k in schema.get("required", []) if k in props}
        if kind == "array":
            return [self.example(schema.get("items", {}))] if schema.get("minItems") else []
        if kind == "integer":
            return max(1, schema.get("minimum", 1))
        if kind == "number":
            return 1
        if kind == "boolean":
            return True
        fmt = schema.get("format", "")
        if fmt in ("uri", "url") or "url" in schema.get("title", "").lower():
            return "https://example.com/edge"
        if fmt == "email":
            return "edge@example.com"
        if fmt == "date-time":
            return "2026-01-01T00:00:00Z"
        if fmt == "uuid":
            return str(uuid.uuid4())
        return "x" * max(1, schema.get("minLength", 1))

    def edges(self, schema: dict[str, Any]) -> list[Any]:
        values: list[Any] = list(EDGE_ANY)
        for variant in self.variants(schema):
            kind = variant.get("type")
            if kind == "string":
                values += EDGE_TEXT
            elif kind == "integer":
                values += EDGE_INT
            elif kind == "number":
                values += EDGE_NUMBER
            elif kind == "array":
                item = self.variants(variant.get("items", {}))[0]
                values += [[value] for value in self.edges(item) if value is not None]
                values += [[self.example(item)] * 1000]
        return values


def _edge_requests(spec: dict[str, Any], ids: dict[str, str]) -> list[tuple[str, str, dict]]:
    """(method, path, request options) for every boundary value of every field."""
    s = _Spec(spec)
    out: list[tuple[str, str, dict]] = []
    for template, operations in spec["paths"].items():
        for method, op in operations.items():
            if (method.upper(), template) in SKIP:
                continue
            path = template
            for name in ids:
                path = path.replace("{" + name + "}", ids[name])
            path = path.replace("{user_id}", str(uuid.uuid4()))
            path = path.replace("{", "").replace("}", "")  # an id of no seeded kind: a 404
            for param in op.get("parameters", []):
                if param["in"] == "query":
                    for value in EDGE_QUERY:
                        out.append((method, path, {"params": {param["name"]: value}}))
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is None:
                continue
            schema = s.variants(body["schema"])[0]
            base = s.example(schema)
            for name, prop in schema.get("properties", {}).items():
                for value in s.edges(prop):
                    out.append((method, path, {"json": {**base, name: value}}))
    return out


def _send_edges(base: str, headers: dict[str, str], ids: dict[str, str]) -> list[str]:
    problems: list[str] = []
    with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
        spec = c.get("/openapi.json").json()
        for method, path, options in _edge_requests(spec, ids):
            if "json" in options:  # ASCII-escaped, so a lone surrogate travels as JSON allows
                options = {
                    "content": json.dumps(options["json"]).encode(),
                    "headers": {"Content-Type": "application/json"},
                }
            r = c.request(method.upper(), path, **options)
            documented = str(r.status_code) in spec["paths"][_template(spec, method, path)][
                method
            ].get("responses", {})
            if r.status_code >= 500 and not (r.status_code != 500 and documented):
                sent = str(options)[:200]
                problems.append(f"{method.upper()} {path} {sent} -> {r.status_code} {r.text[:200]}")
    return problems


def _template(spec: dict[str, Any], method: str, path: str) -> str:
    for template, operations in spec["paths"].items():
        if method in operations and re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path):
            return template
    raise AssertionError(f"no operation for {method} {path}")


async def test_no_boundary_value_gets_a_server_error(api_server, api_user, stack):
    """Each field of each JSON body and each query parameter, alone at a boundary value, gets
    a 4xx (or a documented 503), never a 500. A personal API token signs the requests, so an
    edge that changes the password does not sign the rest out."""
    since = await _now(stack)
    async with httpx.AsyncClient(base_url=api_server, headers=api_user.headers) as c:
        me = uuid.UUID((await c.get("/api/users/me")).json()["id"])
        token = (await c.post("/api/users/me/tokens", json={"name": "edges"})).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    try:
        ids = await asyncio.to_thread(_seed, api_server, headers)
        problems = await asyncio.to_thread(_send_edges, api_server, headers, ids)
    finally:
        await _drop_users(stack, since, me)
    assert not problems, f"{len(problems)} server errors:\n" + "\n".join(problems[:40])
