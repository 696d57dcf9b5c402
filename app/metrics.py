"""Prometheus metrics: what the API and the workers count, and how they are read.

Every process counts into prometheus-client's metrics. With PROMETHEUS_MULTIPROC_DIR set
(`fuze up` sets it; `fuze api --workers N` too), each process writes its own files there and
a scrape of any API process (GET /metrics) adds up all of them, the workers' included when
they share the folder. Without it, each process answers for itself; a worker then serves its
own on FUZE_WORKER_METRICS_PORT (docs/deployment.md, "Metrics").

Labels never carry user data: routes are their templates (`/api/bookmarks/{bookmark_id}`),
jobs their stage, caches and Gemini outcomes fixed names.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import Forbidden

log = logging.getLogger("fuze.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

HTTP_REQUESTS = Counter(
    "fuze_http_requests_total",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "fuze_http_request_duration_seconds",
    "Time to answer an HTTP request (to its last byte; an event stream counts while open).",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DB_READS = Counter(
    "fuze_db_reads_total",
    "Statements of the read pool, by the server that ran them (primary or replica).",
    ["target"],
)
REPLICA_LAG = Gauge(
    "fuze_db_replica_lag_seconds",
    "How far a read replica's replay is behind the primary, as last measured.",
    ["replica"],
    multiprocess_mode="mostrecent",
)
JOBS = Counter(
    "fuze_jobs_total",
    "Jobs run by the workers, by stage and outcome (ok, failed, retried, skipped, cancelled).",
    ["stage", "outcome"],
)
JOB_DURATION = Histogram(
    "fuze_job_duration_seconds",
    "Time one run of a job took, by stage.",
    ["stage"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 1800.0),
)
CACHE = Counter(
    "fuze_cache_requests_total",
    "Cache look-ups, by cache (recommendations, query_vectors, embeddings) and result (hit, miss).",
    ["cache", "result"],
)
GEMINI_CALLS = Counter(
    "fuze_gemini_calls_total",
    "Calls to Gemini, by operation and outcome (ok, or the error's code: gemini_timeout...).",
    ["operation", "outcome"],
)
GEMINI_DURATION = Histogram(
    "fuze_gemini_call_duration_seconds",
    "Time one call to Gemini took, by operation.",
    ["operation"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 60.0),
)

# Stage names of the workers' jobs (by function name); another job is named by its function.
STAGES = {
    "fetch_bookmark": "fetch",
    "extract_bookmark": "extraction",
    "embed_bookmark": "embedding",
    "analyse_bookmark": "analysis",
    "analyse_backlog": "analysis_backlog",
    "analyse_project": "project_analysis",
    "embed_context": "project_embedding",
    "parse_import": "import",
    "watch_import": "import_watch",
}


def cache_lookup(cache: str, hit: bool) -> None:
    CACHE.labels(cache, "hit" if hit else "miss").inc()


def gemini_call(operation: str, outcome: str, seconds: float) -> None:
    GEMINI_CALLS.labels(operation, outcome).inc()
    GEMINI_DURATION.labels(operation).observe(seconds)


def set_replica_lag(replica: str, seconds: float) -> None:
    """For the read-replica code: the replay lag it measured of `replica` (a name from the
    configuration, e.g. its index, never a URL with a password)."""
    REPLICA_LAG.labels(replica).set(seconds)


def job_outcome(result: Any) -> str:
    """A finished job's outcome from what it returned: the stages answer "failed: <code>"
    when they gave up on their item, "stale"/"skipped"/"gone" when there was nothing to do."""
    if isinstance(result, str):
        if result.startswith("failed"):
            return "failed"
        if result in ("stale", "skipped", "gone"):
            return "skipped"
    return "ok"


def measure_job(coroutine: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Count a job's runs by outcome and time them. arq's Retry is `retried`; any other
    exception `failed`; a run cut short (a timeout, a worker stopping) `cancelled`."""
    import asyncio
    import functools

    from arq import Retry

    stage = STAGES.get(coroutine.__name__, coroutine.__name__)
    duration = JOB_DURATION.labels(stage)

    @functools.wraps(coroutine)
    async def job(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        outcome = "failed"
        try:
            result = await coroutine(ctx, *args, **kwargs)
            outcome = job_outcome(result)
            return result
        except Retry:
            outcome = "retried"
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            JOBS.labels(stage, outcome).inc()
            duration.observe(time.perf_counter() - start)

    return job


# --- requests -------------------------------------------------------------------------------

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _template(scope: Scope) -> str:
    """The matched route's path template with its routers' prefixes: FastAPI (0.16x) leaves
    an included router's own route in scope["route"], without the prefix, and the full
    template in the route context it chose; "other" when no route matched."""
    chosen = scope.get("fastapi", {}).get("effective_route_context")
    path = getattr(chosen, "path_format", None) or getattr(scope.get("route"), "path_format", None)
    return path or "other"


class MetricsMiddleware:
    """Counts each HTTP request by its route's template, method and status, and times it.

    The router leaves the route it matched in the scope (shared by every layer), so the
    template is read after the answer; a request no route matched is `other` (the SPA's
    pages, unknown addresses). The label children are kept per (route, method, status):
    after the first request of a kind, counting is two dictionary look-ups and two
    increments.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            path = _template(scope)
            method = scope.get("method", "")
            if method not in _METHODS:  # any word a client sends: one label, one key
                method = "other"
            key = (path, method, status)
            children = self._children.get(key)
            if children is None:
                children = (
                    HTTP_REQUESTS.labels(path, method, str(status)),
                    HTTP_DURATION.labels(path, method),
                )
                self._children[key] = children
            children[0].inc()
            children[1].observe(time.perf_counter() - start)


# --- who may read them ----------------------------------------------------------------------

FORBIDDEN_MESSAGE = (
    "Metrics are served to clients on this machine's loopback, or with the bearer token of "
    "FUZE_METRICS_TOKEN."
)


def allowed(
    client_host: str | None, authorization: str | None, token: str | None, loopback: bool
) -> bool:
    """Metrics answer a bearer of FUZE_METRICS_TOKEN, and (unless turned off) clients on this
    machine's loopback; behind a proxy the client is the one it forwarded (uvicorn's
    --proxy-headers, from trusted proxies only)."""
    if token and authorization:
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(presented.strip(), token):
            return True
    if loopback and client_host:
        try:
            return ipaddress.ip_address(client_host).is_loopback
        except ValueError:
            return False
    return False


# --- exposition -----------------------------------------------------------------------------


class _Sampled:
    """Values read at scrape time (queue depths), as gauges of this scrape only."""

    def __init__(self, queues: dict[str, int]) -> None:
        self.queues = queues

    def collect(self) -> Iterable[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "fuze_queue_depth",
            "Jobs waiting in an arq queue, read at scrape time.",
            labels=["queue"],
        )
        for queue, value in self.queues.items():
            depth.add_metric([queue], value)
        yield depth


def _registry() -> Any:
    """Every process's metrics (the multiprocess folder), or this process's own."""
    path = os.environ.get(MULTIPROC_ENV)
    if not path:
        return REGISTRY
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=path)
    return registry


def exposition(queues: dict[str, int] | None = None) -> bytes:
    """The text format of every metric, and the sampled values."""
    body = generate_latest(_registry())
    if queues is not None:
        sampled = CollectorRegistry()
        sampled.register(_Sampled(queues))
        body += generate_latest(sampled)
    return body


async def queue_depths(redis: Any) -> dict[str, int] | None:
    """The length of each arq queue (a sorted set of job ids), or None with Redis away."""
    from arq.constants import default_queue_name

    from app.imports.service import IMPORT_QUEUE

    names = {"default": default_queue_name, "imports": IMPORT_QUEUE}
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for key in names.values():
                pipe.zcard(key)
            counts = await pipe.execute()
    except Exception:
        log.debug("queue depths unavailable", exc_info=True)
        return None
    return {name: int(count) for name, count in zip(names, counts, strict=True)}


def clear_multiproc_dir(path: str) -> None:
    """Empty the folder at the start of a run: files of processes that are gone would
    otherwise add their counts to the new run's forever."""
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.unlink(os.path.join(path, name))


router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Every metric in Prometheus's text format, with the queues' depths read now."""
    settings = request.app.state.settings
    client = request.client
    if not allowed(
        client.host if client else None,
        request.headers.get("authorization"),
        settings.metrics_token,
        settings.metrics_allow_loopback,
    ):
        raise Forbidden(FORBIDDEN_MESSAGE, code="metrics_forbidden")
    queues = await queue_depths(request.app.state.redis)
    # Reading every process's files takes a few milliseconds: off the event loop.
    body = await run_in_threadpool(exposition, queues)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


# --- the workers' own endpoint ---------------------------------------------------------------


def serve_worker_metrics(host: str, port: int, token: str | None, loopback: bool) -> Any:
    """A small HTTP server in a thread of a worker process: GET /metrics, same rules as the
    API's (loopback or the bearer token), refused in the API's error shape."""
    import json
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        def error(status: str, code: str, message: str) -> list[bytes]:
            start_response(status, [("Content-Type", "application/json")])
            return [json.dumps({"error": {"code": code, "message": message}}).encode()]

        if environ.get("PATH_INFO") != "/metrics":
            return error("404 Not Found", "not_found", "Only /metrics is served here.")
        if not allowed(
            environ.get("REMOTE_ADDR"), environ.get("HTTP_AUTHORIZATION"), token, loopback
        ):
            return error("403 Forbidden", "metrics_forbidden", FORBIDDEN_MESSAGE)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [exposition()]

    server = make_server(host, port, app, server_class=Server, handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    log.info("worker metrics on http://%s:%s/metrics", host, server.server_port)
    return server
