"""Import benchmark: a generated 12,000-entry Netscape bookmark file (nested folders, tags,
descriptions, some favicons, 2% duplicates, a few non-web links) uploaded to a real API
process and parsed by the real import job in a worker process of its own.

    .venv/bin/python bench/imports.py [--entries 12000]

Prints the time to accept (the 202), the time the job took to parse and save every entry, the
job process's peak memory (RSS, sampled every 20 ms, against its size before the upload), and
entries per second from the upload until every entry is in the library (`pending`; no
pipeline worker runs, so the figure is the import's alone). Embedded PostgreSQL and Valkey are
started in a temporary folder unless FUZE_DATABASE_URL / FUZE_REDIS_URL are set.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FOLDERS = [
    ["Work", "Projects", "Backend"], ["Work", "Projects", "Frontend"], ["Work", "Reading"],
    ["Personal", "Recipes"], ["Personal", "Travel", "Japan"], ["Learning", "Python"],
    ["Learning", "Databases", "PostgreSQL"], ["Learning", "ML"], ["News"], [],
]  # fmt: skip
ICON = "data:image/png;base64," + base64.b64encode(os.urandom(600)).decode()


def netscape_file(n: int) -> bytes:
    """Entries spread over nested folders, as browsers write them."""
    per_folder: dict[int, list[str]] = {i: [] for i in range(len(FOLDERS))}
    for i in range(n):
        if i % 50 == 49:  # 2% the same page again, under another address form
            url = f"https://site{(i - 1) % 400}.example.org/articles/{i - 1}?utm_source=dup"
        elif i % 400 == 7:
            url = f"javascript:void({i})"
        else:
            url = f"https://site{i % 400}.example.org/articles/{i}"
        attrs = (
            f'HREF="{url}" ADD_DATE="{1500000000 + i * 600}" LAST_MODIFIED="{1500000000 + i * 600}"'
        )
        if i % 4 == 0:
            attrs += f' ICON="{ICON}"'
        if i % 7 == 0:
            attrs += ' TAGS="later,important"'
        row = f"<DT><A {attrs}>Article number {i} about topic {i % 97}</A>\n"
        if i % 3 == 0:
            row += f"<DD>Why I kept article {i}: it explains topic {i % 97} well.\n"
        per_folder[i % len(FOLDERS)].append(row)
    out = [
        "<!DOCTYPE NETSCAPE-Bookmark-file-1>\n"
        '<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">\n'
        "<TITLE>Bookmarks</TITLE>\n<H1>Bookmarks</H1>\n<DL><p>\n"
        '<DT><H3 PERSONAL_TOOLBAR_FOLDER="true">Bookmarks bar</H3>\n<DL><p>\n'
    ]
    for index, path in enumerate(FOLDERS):
        out += [f"<DT><H3>{name}</H3>\n<DL><p>\n" for name in path]
        out += per_folder[index]
        out += ["</DL><p>\n"] * len(path)
    out.append("</DL><p>\n</DL><p>\n")
    return "".join(out).encode()


def serve_import_queue() -> None:
    """The job process: an arq worker on the import queue that runs one parse job and exits."""
    from arq import func
    from arq.worker import Worker

    import app.models  # noqa: F401
    from app.config import get_settings
    from app.db import create_engine, create_sessionmaker
    from app.imports import jobs
    from app.imports.service import IMPORT_QUEUE
    from workers.main import _redis_settings

    async def startup(ctx: dict) -> None:
        ctx["settings"] = get_settings()
        ctx["engine"] = create_engine(ctx["settings"])
        ctx["sessionmaker"] = create_sessionmaker(ctx["engine"])

    async def shutdown(ctx: dict) -> None:
        await ctx["engine"].dispose()

    worker = Worker(
        functions=[func(jobs.parse_import, timeout=3600, keep_result=0)],
        queue_name=IMPORT_QUEUE,
        redis_settings=_redis_settings(),
        on_startup=startup,
        on_shutdown=shutdown,
        burst=True,
        max_burst_jobs=1,
        poll_delay=0.05,
    )
    print("ready", flush=True)

    async def wait_for_the_job() -> None:  # burst mode stops at once on an empty queue
        from app.broker import create_redis

        redis = create_redis(get_settings())
        while not await redis.zcard(IMPORT_QUEUE):  # noqa: ASYNC110 (polls Redis, not a flag)
            await asyncio.sleep(0.005)
        await redis.aclose()

    worker.loop.run_until_complete(wait_for_the_job())
    worker.run()


async def run(args: argparse.Namespace) -> None:
    from app.embedded import free_port
    from bench.servers import start_servers, wait_until_up

    tmp = Path(tempfile.mkdtemp(prefix="fuze-bench-imports-"))
    database_url, redis_url, servers = await start_servers(tmp)

    data = netscape_file(args.entries)
    port = free_port()
    env = {
        **os.environ,
        "FUZE_ENV": "test",
        "FUZE_DATA_DIR": str(tmp),
        "FUZE_DATABASE_URL": database_url,
        "FUZE_REDIS_URL": redis_url,
        "FUZE_SECRET_KEY": "bench-" + "x" * 40,
        "FUZE_RATE_LIMIT_ENABLED": "false",
        "FUZE_PRELOAD_MODEL": "false",
        "FUZE_LOG_LEVEL": "WARNING",
    }
    api = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "api", "--port", str(port)], env=env, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    job = subprocess.Popen(
        [sys.executable, __file__, "--serve-import-queue"], env=env, cwd=ROOT,
        stdout=subprocess.PIPE, stderr=(tmp / "job.log").open("wb"),
    )  # fmt: skip
    assert job.stdout is not None
    job.stdout.readline()  # "ready": imports done, before any job
    time.sleep(1.0)
    baseline = psutil.Process(job.pid).memory_info().rss
    peak = baseline
    sampling = True

    def sample() -> None:
        nonlocal peak
        proc = psutil.Process(job.pid)
        while sampling:
            try:
                peak = max(peak, proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.02)

    threading.Thread(target=sample, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            await wait_until_up(client, "/api/health", 300)
            account = {
                "username": "bench",
                "email": "bench@example.com",
                "password": "bench pw 123",
            }
            await client.post("/api/auth/register", json=account)
            token = (
                await client.post(
                    "/api/auth/login", json={"login": "bench", "password": "bench pw 123"}
                )
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}

            started = time.perf_counter()
            r = await client.post(
                "/api/imports",
                headers=headers,
                files={"file": ("bookmarks.html", data, "text/html")},
            )
            accepted = time.perf_counter() - started
            assert r.status_code == 202, r.text
            import_id = r.json()["id"]
            while True:
                body = (await client.get(f"/api/imports/{import_id}", headers=headers)).json()
                if body["parsed"] == body["total"] and body["status"] != "parsing":
                    break
                await asyncio.sleep(0.05)
            all_in = time.perf_counter() - started
            r = await client.get("/api/bookmarks?limit=1", headers=headers)
            assert r.status_code == 200
    finally:
        sampling = False
        api.terminate()
        job.terminate()
        api.wait(20)
        job.wait(30)
        for server in reversed(servers):
            server.stop()  # type: ignore[attr-defined]

    from datetime import datetime

    parse_seconds = (
        datetime.fromisoformat(body["parsed_at"]) - datetime.fromisoformat(body["started_at"])
    ).total_seconds()
    print(
        f"file:                   {args.entries} entries, {len(data) / 2**20:.1f} MiB ({body['format']})"
    )
    print(
        f"outcome:                {body['imported']} imported, {body['duplicates']} duplicates, "
        f"{body['invalid']} invalid (total {body['total']})"
    )
    print(f"accepted (202) after:   {accepted:.2f} s (upload, format check of every entry, stored)")
    print(
        f"job parse + save:       {parse_seconds:.2f} s ({body['total'] / parse_seconds:.0f} entries/s)"
    )
    print(f"all pending after:      {all_in:.2f} s from the upload")
    print(
        f"entries per second:     {body['total'] / all_in:.0f} (upload to every entry in the library)"
    )
    print(
        f"job process peak RSS:   {peak / 2**20:.0f} MiB "
        f"(+{(peak - baseline) / 2**20:.1f} MiB over its {baseline / 2**20:.0f} MiB before the import)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=12_000)
    parser.add_argument("--serve-import-queue", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_import_queue:
        serve_import_queue()
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
