"""The CPU that counting a request costs: app.metrics.MetricsMiddleware around a trivial ASGI
app, against the same app alone, in this process (CPU time per request, the best of three
rounds). Run it with PROMETHEUS_MULTIPROC_DIR set to an empty folder for the cost under
`fuze up` (each count then goes to a memory-mapped file).

    python bench/metrics_overhead.py
    PROMETHEUS_MULTIPROC_DIR=$(mktemp -d) python bench/metrics_overhead.py
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from app.metrics import MetricsMiddleware

ROUNDS, REQUESTS = 3, 200_000


class _Route:
    path_format = "/api/bookmarks/{bookmark_id}"


class _Chosen:
    path_format = "/api/bookmarks/{bookmark_id}"


async def _endpoint(scope: dict[str, Any], receive: Any, send: Any) -> None:
    # What FastAPI's router leaves in the scope when it matches an included router's route.
    scope["route"] = _Route
    scope.setdefault("fastapi", {})["effective_route_context"] = _Chosen
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _send(_: Any) -> None:
    pass


async def _receive() -> dict[str, Any]:
    return {"type": "http.request"}


async def _cpu_per_request(app: Any, n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        await app({"type": "http", "method": "GET", "path": "/x"}, _receive, _send)
    return (time.process_time() - start) / n


async def main() -> None:
    counted = MetricsMiddleware(_endpoint)
    bare = min([await _cpu_per_request(_endpoint, REQUESTS) for _ in range(ROUNDS)])
    measured = min([await _cpu_per_request(counted, REQUESTS) for _ in range(ROUNDS)])
    mode = "multiprocess" if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else "single process"
    print(
        f"{mode}: {bare * 1e6:.2f} us per request bare, {measured * 1e6:.2f} us counted: "
        f"{(measured - bare) * 1e6:.2f} us of CPU per request for the metrics"
    )


if __name__ == "__main__":
    asyncio.run(main())
