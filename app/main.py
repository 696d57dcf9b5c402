"""create_app(): the FastAPI application, its shared clients, routers, errors and the SPA."""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from app.admin.router import router as admin_router
from app.archives.router import router as archives_router
from app.assistant.mcp import HttpEndpoint
from app.auth.key_check import check_secret_key
from app.auth.router import router as auth_router
from app.bookmarks.router import router as bookmarks_router
from app.broker import create_redis
from app.config import Settings, get_settings
from app.db import ReadPool, create_engine, create_sessionmaker
from app.deps import rate_limit_ip
from app.duplicates.router import router as duplicates_router
from app.embeddings import query_encoder
from app.embeddings.service import Embedder
from app.errors import http_exception_handler, install_error_handlers
from app.events.router import router as events_router
from app.feedback.router import router as feedback_router
from app.feeds.router import router as feeds_router
from app.health.router import router as health_router
from app.highlights.router import router as highlights_router
from app.imports.router import exports_router
from app.imports.router import router as imports_router
from app.limits import TargetLimitMiddleware
from app.lists.router import router as lists_router
from app.logs import setup_logging
from app.metrics import MetricsMiddleware
from app.metrics import router as metrics_router
from app.middleware import (
    BodySizeLimitMiddleware,
    ErrorBoundaryMiddleware,
    RequestContextMiddleware,
)
from app.projects.router import router as projects_router
from app.ratelimit import RateLimiter
from app.recommendations.router import router as recommendations_router
from app.search.router import router as search_router
from app.tags.router import router as tags_router
from app.thumbnails.router import router as thumbnails_router
from app.users.router import router as users_router
from app.webhooks.router import router as webhooks_router

ROOT = Path(__file__).resolve().parents[1]
SPA_DIST = ROOT / "frontend" / "dist"


def _operation_id(route: APIRoute) -> str:
    # `tag-name` gives generated clients methods like AuthService.login.
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


def _freeze_after_load(task: asyncio.Task[None]) -> None:
    """Once the model is loaded, move everything alive to the collector's permanent
    generation: what loading leaves alive never dies (with PyTorch, where queries fall back
    to it, millions of objects: a full collection walking them all paused a request for 0.8 s
    now and then)."""
    if not task.cancelled() and task.exception() is None:
        gc.collect()
        gc.freeze()


def _die_with_supervisor() -> None:
    """In one of several API processes (a multiprocessing child of app/serve.py's
    supervisor): stop when its supervisor dies, even killed outright. Orphans would keep the
    port, and `fuze up` could not start the API again on it."""
    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid is not None:
        from app.embedded import die_with_parent

        die_with_parent(signal.SIGTERM, parent.pid)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    setup_logging(settings.log_level, settings.log_json)
    _die_with_supervisor()

    # Clients are lazy: nothing connects until first use, so the app starts even with Redis down.
    engine = create_engine(settings)
    redis = create_redis(settings)
    reads = ReadPool(settings, redis=redis)
    # Query vectors for search: the model loads once per API process (in the background at
    # start when preload_model is on, and /api/health/ready waits for it; else at the first
    # search).
    # No waiting for a batch to fill: a query is encoded at once, and queries that arrive
    # while the model is busy still go together in the next batch.
    embedder = Embedder(
        batch_size=16,
        max_wait_ms=0,
        threads=settings.api_embed_threads(),
        fast_queries=True,
        cache_dir=settings.data_dir / "models",
        installed_dir=query_encoder.INSTALLED,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Before anything is served: a replica with another key must not sign a single token.
        await check_secret_key(engine, settings)
        preload = asyncio.create_task(embedder.load_async()) if settings.preload_model else None
        if preload is not None:
            preload.add_done_callback(_freeze_after_load)
        async with mcp.lifespan():
            yield
        await mcp.aclose()
        if preload is not None and not preload.done():
            preload.cancel()
        await embedder.stop_batching()
        await redis.aclose()
        await reads.close()
        await engine.dispose()

    app = FastAPI(
        title="Fuze",
        version="0.1.0",
        summary="Save the web; find what helps the project you are working on now.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.reads = reads
    app.state.sessionmaker = create_sessionmaker(engine, reads)
    app.state.redis = redis
    app.state.limiter = RateLimiter(redis)
    app.state.embedder = embedder

    install_error_handlers(app)

    # Each router straight under the app: FastAPI matches a request against nested routers
    # level by level (and twice per level), so a flat list of routers is cheaper to walk, and
    # the busiest ones come first. No two routers have paths that could match the same URL.
    app.include_router(health_router, prefix="/api")
    for router in (
        recommendations_router,
        search_router,
        bookmarks_router,
        users_router,
        projects_router,
        feedback_router,
        auth_router,
        events_router,
        imports_router,
        exports_router,
        admin_router,
        archives_router,
        highlights_router,
        tags_router,
        webhooks_router,
        feeds_router,
        duplicates_router,
        lists_router,
        thumbnails_router,
    ):
        app.include_router(router, prefix="/api", dependencies=[Depends(rate_limit_ip)])

    # The MCP server for assistants (streamable HTTP), outside /api: its tools call /api.
    mcp = HttpEndpoint(app)
    app.router.routes.append(Route("/mcp", endpoint=mcp, methods=["GET", "POST", "DELETE"]))

    # Prometheus's scrape address, outside /api and its per-IP rate limit.
    app.include_router(metrics_router)

    _mount_spa(app)

    # Outermost last: metrics -> request id -> CORS (so even a 413 or a 500 carries CORS headers) ->
    # error boundary (retries, 503s, 500s) -> address length cap -> body cap.
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        # The extension sends the captured page along with a save.
        overrides={
            # An uploaded file (before the prefix below: the first match wins); the service
            # answers the clear 413 for the file itself.
            "/api/bookmarks/upload": settings.pdf_max_bytes + 1024 * 1024,
            "/api/bookmarks": settings.max_save_body_bytes,
            # An uploaded export: the service answers the clear 413 for the file itself; this
            # cap (with room for the multipart envelope) stops a body that says it is larger.
            "/api/imports": settings.import_max_bytes + 1024 * 1024,
        },
    )
    app.add_middleware(TargetLimitMiddleware)
    app.add_middleware(
        ErrorBoundaryMiddleware,
        # Every save (a captured page) can be run again; a large import upload is not kept.
        max_replay_bytes=max(settings.max_body_bytes, settings.max_save_body_bytes),
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_origin_regex=settings.cors_origin_regex,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        expose_headers=["X-Request-ID", "Retry-After"],
        max_age=600,
    )
    app.add_middleware(RequestContextMiddleware)
    # Outermost: every answer counted by its route's template and timed, even a refusal by
    # the layers above.
    app.add_middleware(MetricsMiddleware)
    return app


def _mount_spa(app: FastAPI) -> None:
    """Serve the built SPA at / with client-side routing: a GET outside /api that no route
    answers gets the SPA's file or its index.html; everything else keeps the error shape."""

    async def not_found_or_spa(request: Request, exc: StarletteHTTPException) -> Response:
        path = request.url.path
        if (
            exc.status_code != 404
            or request.method not in ("GET", "HEAD")
            or path == "/api"
            or path.startswith("/api/")
        ):
            return await http_exception_handler(request, exc)
        index = SPA_DIST / "index.html"
        if not index.exists():
            return HTMLResponse(
                "<!doctype html><title>Fuze</title><h1>Fuze API</h1>"
                '<p>The web app is not built. The API is documented at <a href="/docs">/docs</a>.</p>'
            )
        candidate = (SPA_DIST / path.lstrip("/")).resolve()
        if candidate.is_file() and candidate.is_relative_to(SPA_DIST.resolve()):
            return FileResponse(candidate)
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    app.add_exception_handler(StarletteHTTPException, not_found_or_spa)  # type: ignore[arg-type]
