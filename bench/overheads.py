"""CPU that every request pays before and after its own work, measured in process.

    .venv/bin/python bench/overheads.py [--rounds 3]

Prints, each side by side in the same process and round:

- a Redis GET through redis-py's pool, as the API's clients are made (app.broker), against
  redis-py's own check of each pooled connection (a read under a zero timeout), sequential
  (c1) and eight at once (c8), on an embedded Valkey;
- a route's twelve query parameters (the library's) validated by FastAPI one by one, against
  the same twelve read into one model (app.params.QueryModel), and a route with none;
- a page of 20 bookmarks written as JSON from 20 validated models (model_dump_json),
  against the same bytes from their dicts (app.wire.Writer);
- an access line (app.middleware's, at INFO, JSON, to /dev/null) as app.logs sets logging
  up, against logging's defaults (each record's caller, thread and process names found).
"""

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


async def redis_get(rounds: int, n: int = 20000) -> None:
    from redis.asyncio import ConnectionPool

    from app.broker import _CONNECTION, FuzeRedis
    from app.embedded import EmbeddedValkey

    folder = Path(tempfile.mkdtemp(prefix="fuze-overheads-"))
    valkey = EmbeddedValkey(folder)
    url = valkey.start()
    default = {k: v for k, v in _CONNECTION.items() if k != "parser_class"}
    try:
        for _ in range(rounds):
            cells = []
            for name, options in (("redis-py's check", default), ("app.broker", _CONNECTION)):
                client = FuzeRedis(connection_pool=ConnectionPool.from_url(url, **options))
                await client.set("fuze:overheads", b"x" * 2000)

                async def gets(count: int, client: Any = client) -> None:
                    for _ in range(count):
                        await client.get("fuze:overheads")

                for conc in (1, 8):
                    await asyncio.gather(*(gets(200) for _ in range(conc)))
                    cpu = time.process_time()
                    await asyncio.gather(*(gets(n // conc) for _ in range(conc)))
                    us = (time.process_time() - cpu) / n * 1e6
                    cells.append(f"{name} c{conc} {us:.0f} µs")
                await client.aclose()
            print("Redis GET, CPU per command: " + " | ".join(cells))
    finally:
        valkey.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _apps() -> tuple[Any, dict[str, str]]:
    from fastapi import Depends, FastAPI, Query
    from fastapi.responses import Response

    from app.bookmarks.schemas import BookmarkQuery, Shelf, Sort, Status
    from app.params import QueryModel

    app = FastAPI()

    @app.get("/one-by-one")
    async def one_by_one(
        q: Annotated[str | None, Query(max_length=500)] = None,
        tag: Annotated[str | None, Query(max_length=64)] = None,
        url: Annotated[str | None, Query(max_length=4096)] = None,
        status: Status | None = None,
        shelf: Shelf | None = None,
        read: bool | None = None,
        favorite: bool | None = None,
        list_: Annotated[uuid.UUID | None, Query(alias="list")] = None,
        sublists: bool = False,
        sort: Sort = "-saved_at",
        cursor: Annotated[str | None, Query(max_length=500)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> Response:
        return Response(b"{}")

    model = QueryModel(BookmarkQuery)

    @app.get("/model")
    async def as_model(params: Annotated[BookmarkQuery, Depends(model)]) -> Response:
        return Response(b"{}")

    @app.get("/none")
    async def none() -> Response:
        return Response(b"{}")

    return app, {"none": "/none", "one by one": "/one-by-one", "one model": "/model"}


async def query_parameters(rounds: int, n: int = 20000) -> None:
    app, paths = _apps()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_: Any) -> None:
        pass

    def scope(path: str) -> dict[str, Any]:
        return {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
            "query_string": b"limit=20&cursor=eyJhIjoxfQ", "headers": [(b"host", b"x")],
            "client": ("127.0.0.1", 1), "server": ("x", 80), "state": {},
        }  # fmt: skip

    for _ in range(rounds):
        cells = []
        for name, path in paths.items():
            for _ in range(500):
                await app(scope(path), receive, send)
            cpu = time.process_time()
            for _ in range(n):
                await app(scope(path), receive, send)
            cells.append(f"{name} {(time.process_time() - cpu) / n * 1e6:.0f} µs")
        print("A GET with 2 of 12 query parameters, CPU per request: " + " | ".join(cells))


def page_json(rounds: int, n: int = 2000) -> None:
    from app.bookmarks.schemas import BookmarkOut, BookmarkPage
    from app.wire import Writer, template

    now = datetime(2026, 1, 2, 3, 4, 5, 250000, tzinfo=UTC)
    rows = [
        {
            "id": uuid.uuid4(), "url": f"https://example.com/{i}",
            "normalized_url": f"https://example.com/{i}", "title": "A page's title " * 3,
            "description": "What it says. " * 12, "notes": None, "tags": ["python", "web"],
            "site_name": "Example", "author": None, "published_at": now, "language": "en",
            "canonical_url": None, "image_url": "https://example.com/i.png", "favicon_url": None,
            "word_count": 1200, "reading_time_minutes": 6, "quality": 70, "status": "ready",
            "error_code": None, "error_message": None, "source": "web", "version": 3,
            "saved_at": now, "updated_at": now, "processed_at": now, "read_at": None,
            "favorite": False, "archived_at": None, "progress": 0.25, "analysis_status": "ready",
            "analysis_error": None, "archive_status": "ready", "thumbnail_status": "none",
            "thumbnail_url": None,
        }
        for i in range(20)
    ]  # fmt: skip
    writer, blank = Writer(BookmarkPage), template(BookmarkOut)

    def models() -> bytes:
        items = [BookmarkOut(**r) for r in rows]
        return BookmarkPage(items=items, next_cursor="c").model_dump_json().encode()

    def dicts() -> bytes:
        return writer({"items": [{**blank, **r} for r in rows], "next_cursor": "c"})

    assert models() == dicts()
    for _ in range(rounds):
        cells = []
        for name, write in (("models", models), ("app.wire", dicts)):
            cpu = time.process_time()
            for _ in range(n):
                write()
            cells.append(f"{name} {(time.process_time() - cpu) / n * 1e6:.0f} µs")
        print("A page of 20 bookmarks as JSON, CPU: " + " | ".join(cells))


def access_line(rounds: int, n: int = 20000) -> None:
    import logging
    import os

    from app.logs import request_id_var, setup_logging

    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)  # the handler writes to stderr: its lines go nowhere, its writes happen
    try:
        setup_logging("INFO", as_json=True)
        ours = (logging._srcfile, logging.logThreads, logging.logProcesses)
        defaults = (logging.__file__, True, True)  # what logging starts with
        access = logging.getLogger("fuze.access")
        token = request_id_var.set("0123456789abcdef0123456789abcdef")
        extra = {
            "method": "GET", "path": "/api/bookmarks", "status": 200, "duration_ms": 1.23,
            "client_ip": "127.0.0.1", "_text": "GET /api/bookmarks 200 1 ms",
        }  # fmt: skip
        results = []
        for _ in range(rounds):
            cells = []
            for name, flags in (("logging's defaults", defaults), ("app.logs", ours)):
                logging._srcfile, logging.logThreads, logging.logProcesses = flags
                logging.logMultiprocessing = flags[2]
                cpu = time.process_time()
                for _ in range(n):
                    access.info("request", extra=extra)
                cells.append(f"{name} {(time.process_time() - cpu) / n * 1e6:.1f} µs")
            results.append("An access line, CPU: " + " | ".join(cells))
        request_id_var.reset(token)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
        logging.getLogger().handlers[:] = []
    print("\n".join(results))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    page_json(args.rounds)
    access_line(args.rounds)
    await query_parameters(args.rounds)
    await redis_get(args.rounds)


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
