"""Property-based fuzzing of every operation in the OpenAPI schema (schemathesis), against a
real API process: generated requests, valid (positive) and invalid (negative), signed in as a
test user, must never get a 5xx, and valid ones get answers that match the schema.

Bounded and derandomized, so CI sees the same requests every run: FUZZ_EXAMPLES valid and
FUZZ_NEGATIVE invalid examples per operation (raise them locally to search harder)."""

from __future__ import annotations

import asyncio
import contextlib
import os
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

from app.db import create_engine
from tests.conftest import make_settings

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
    engine = create_engine(make_settings(stack), pool_size=1, max_overflow=0)
    async with engine.connect() as conn:
        value = (await conn.execute(text("SELECT clock_timestamp()"))).scalar()
    await engine.dispose()
    return value


async def _drop_users(stack: Any, since: Any, me: uuid.UUID) -> None:
    engine = create_engine(make_settings(stack), pool_size=1, max_overflow=0)
    async with engine.begin() as conn:
        await conn.execute(
            text("DELETE FROM users WHERE created_at >= :t OR id = :me"),
            {"t": since, "me": me},
        )
    await engine.dispose()
