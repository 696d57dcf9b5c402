from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.errors import ErrorResponse, error_json
from app.health import service

router = APIRouter(prefix="/health", tags=["health"])


class Liveness(BaseModel):
    status: str


class Check(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, Check]


@router.get("", response_model=Liveness, summary="Liveness: 200 while the process serves")
async def health() -> Liveness:
    return Liveness(status="ok")


@router.get(
    "/ready",
    response_model=Readiness,
    summary="Readiness: database, Redis, migrations at head, a worker, the embedding model",
    responses={503: {"model": ErrorResponse, "description": "Something Fuze needs is down."}},
)
async def ready(request: Request) -> Readiness | JSONResponse:
    state = request.app.state
    checks = await service.readiness(state.engine, state.redis, state.embedder, state.settings)
    down = [name for name, c in checks.items() if not c["ok"]]
    if down:
        return error_json(503, "not_ready", f"Not ready: {', '.join(down)}.", {"checks": checks})
    return Readiness(status="ready", checks={k: Check(**v) for k, v in checks.items()})
