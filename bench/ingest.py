"""Ingest benchmark: N pages served by a local HTTP server, saved through the API, timed until
every one is `ready`. Prints pages/s, the worker's peak memory, and the pipeline's rate against
the raw model rate (`model.encode` over the same texts in one batch loop).

    .venv/bin/python bench/ingest.py --pages 500
    .venv/bin/python bench/ingest.py --pages 2000 --via import   # one bookmarks file instead

`--via import` uploads the N addresses as one browser bookmarks file (POST /api/imports), so
the pages go through the import queue as an imported library does, and follows the import's
own counts until every entry is ready or failed.

Pages are SciFact abstracts (../shared/data/retrieval) wrapped in a realistic article page
(navigation, header, footer, related links), so every page is distinct and the embedding
cache cannot help. Embedded PostgreSQL and Valkey are started in a temporary folder unless
FUZE_DATABASE_URL / FUZE_REDIS_URL are set.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "data" / "retrieval" / "corpus.jsonl"

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{title} | Science Notes</title>
<meta name="description" content="{desc}">
<meta property="og:site_name" content="Science Notes"></head>
<body><header><nav><a href="/">Home</a> <a href="/topics">Topics</a> <a href="/about">About</a>
<a href="/subscribe">Subscribe</a></nav></header>
<main><article><h1>{title}</h1><p class="byline">By Staff Writer</p>
{paragraphs}
</article>
<aside class="related"><h3>Related</h3><ul><li><a href="/a">Another study</a></li>
<li><a href="/b">More research</a></li></ul></aside></main>
<footer><p>Copyright 2026 Science Notes. All rights reserved.</p>
<a href="/privacy">Privacy</a> <a href="/terms">Terms</a></footer></body></html>"""


def load_pages(n: int) -> list[tuple[str, str]]:
    pages = []
    with CORPUS.open() as f:
        for line in f:
            doc = json.loads(line)
            if not doc["text"].strip():
                continue
            sentences = doc["text"].split(". ")
            paras = [". ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3)]
            body = "\n".join(f"<p>{html.escape(p)}</p>" for p in paras)
            page = PAGE.format(
                title=html.escape(doc["title"]),
                desc=html.escape(doc["text"][:150]),
                paragraphs=body,
            )
            pages.append((doc["_id"], page))
            if len(pages) == n:
                break
    return pages


def serve(pages: dict[str, bytes]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = pages.get(self.path.strip("/").split("?")[0])
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _cpu_seconds(
    api: subprocess.Popen, worker: subprocess.Popen, servers: list[object]
) -> dict[str, float]:
    """CPU seconds used so far by each process of the stack (with their children)."""

    def total(pid: int) -> float:
        # The live processes' own time, and the time of the children they have reaped (the
        # PostgreSQL backends of connections that closed meanwhile).
        try:
            proc = psutil.Process(pid)
            own = proc.cpu_times()
            procs = [proc, *proc.children(recursive=True)]
            live = sum(p.cpu_times().user + p.cpu_times().system for p in procs)
            return live + own.children_user + own.children_system
        except psutil.Error:
            return 0.0

    out = {"api": total(api.pid), "worker": total(worker.pid)}
    for server in servers:
        child = getattr(server, "child", None)
        if child is not None and child.pid:
            out[type(server).__name__.replace("Embedded", "").lower()] = total(child.pid)
    return out


def raw_model_rate(texts: list[str], batch_size: int) -> float:
    """Plain `model.encode` as anyone would call it: one loop, torch's default threads."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    from app.embeddings.service import model_path

    model = SentenceTransformer(str(model_path()), device="cpu")
    model.encode(texts[:batch_size], batch_size=batch_size)  # warm-up
    started = time.perf_counter()
    for i in range(0, len(texts), batch_size):
        model.encode(texts[i : i + batch_size], batch_size=batch_size, normalize_embeddings=True)
    return len(texts) / (time.perf_counter() - started)


async def _save_each(client: httpx.AsyncClient, headers: dict[str, str], urls: list[str]) -> float:
    """POST each address (16 at a time), then wait until every bookmark is ready or failed.
    Returns the seconds until the last save was accepted."""
    started = time.perf_counter()
    sem = asyncio.Semaphore(16)

    async def save(url: str) -> None:
        async with sem:
            r = await client.post("/api/bookmarks", headers=headers, json={"url": url})
            r.raise_for_status()

    await asyncio.gather(*(save(url) for url in urls))
    accepted = time.perf_counter() - started
    while True:
        counts: dict[str, int] = {}
        cursor = None
        while True:
            params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/api/bookmarks", headers=headers, params=params)).json()
            for item in page["items"]:
                counts[item["status"]] = counts.get(item["status"], 0) + 1
            cursor = page["next_cursor"]
            if not cursor:
                break
        if counts.get("ready", 0) + counts.get("failed", 0) >= len(urls):
            return accepted
        await asyncio.sleep(1.0)


async def _import(client: httpx.AsyncClient, headers: dict[str, str], urls: list[str]) -> float:
    """Upload the addresses as one bookmarks file, then follow the import until every entry
    has its outcome (ready or failed). Returns the seconds until the file was parsed."""
    started = time.perf_counter()
    rows = "".join(f'<DT><A HREF="{html.escape(u)}">Page {i}</A>\n' for i, u in enumerate(urls))
    data = (
        "<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<TITLE>Bookmarks</TITLE>\n"
        f"<H1>Bookmarks</H1>\n<DL><p>\n{rows}</DL><p>\n"
    ).encode()
    r = await client.post(
        "/api/imports", headers=headers, files={"file": ("bookmarks.html", data, "text/html")}
    )
    r.raise_for_status()
    import_id = r.json()["id"]
    parsed_after = None
    while True:
        body = (await client.get(f"/api/imports/{import_id}", headers=headers)).json()
        if parsed_after is None and body["parsed"] == body["total"] and body["total"]:
            parsed_after = time.perf_counter() - started
        if body["total"] and body["processed"] >= body["total"]:
            return parsed_after or time.perf_counter() - started
        await asyncio.sleep(1.0)


async def run(args: argparse.Namespace) -> None:
    from app.embedded import free_port
    from bench.servers import start_servers, wait_until_up

    tmp = Path(tempfile.mkdtemp(prefix="fuze-bench-"))
    database_url, redis_url, servers = await start_servers(tmp)

    pages = load_pages(args.pages)
    web = serve({pid: body.encode() for pid, body in pages})
    web_base = f"http://127.0.0.1:{web.server_address[1]}"
    port = free_port()
    env = {
        **os.environ,
        "FUZE_ENV": "test",
        "FUZE_DATA_DIR": str(tmp),
        "FUZE_DATABASE_URL": database_url,
        "FUZE_REDIS_URL": redis_url,
        "FUZE_SECRET_KEY": "bench-" + "x" * 40,
        "FUZE_ALLOW_PRIVATE_NETWORKS": "true",
        "FUZE_RATE_LIMIT_ENABLED": "false",
        "FUZE_LOG_LEVEL": "WARNING",
    }
    api = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "api", "--port", str(port)], env=env, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    worker_log = (tmp / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "workers"], env={**env, "FUZE_LOG_LEVEL": "INFO"}, cwd=ROOT,
        stdout=worker_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    peak = 0
    stop_sampling = False

    def sample() -> None:
        nonlocal peak
        proc = psutil.Process(worker.pid)
        while not stop_sampling:
            try:
                rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(True))
                peak = max(peak, rss)
            except psutil.Error:
                pass
            time.sleep(0.1)

    threading.Thread(target=sample, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            await wait_until_up(client, "/api/health/ready", 300)
            await client.post(
                "/api/auth/register",
                json={
                    "username": "bench",
                    "email": "bench@example.com",
                    "password": "bench password",
                },
            )
            token = (
                await client.post(
                    "/api/auth/login", json={"login": "bench", "password": "bench password"}
                )
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            # Let the worker load the model first: we time the pipeline, not the model's start.
            await asyncio.sleep(args.warmup)

            cpu_before = _cpu_seconds(api, worker, servers)
            started = time.perf_counter()
            if args.via == "import":
                accepted = await _import(client, headers, [f"{web_base}/{pid}" for pid, _ in pages])
            else:
                accepted = await _save_each(
                    client, headers, [f"{web_base}/{pid}" for pid, _ in pages]
                )
            elapsed = time.perf_counter() - started
            cpu_after = _cpu_seconds(api, worker, servers)  # not the reading back below

            counts: dict[str, int] = {}
            for status in ("ready", "failed"):
                cursor = None
                while True:
                    params = {
                        "status": status,
                        "limit": 200,
                        **({"cursor": cursor} if cursor else {}),
                    }
                    page = (
                        await client.get("/api/bookmarks", headers=headers, params=params)
                    ).json()
                    counts[status] = counts.get(status, 0) + len(page["items"])
                    cursor = page["next_cursor"]
                    if not cursor:
                        break

            texts = []
            done_at: list[datetime] = []
            from app.embeddings.service import bookmark_text

            cursor = None
            while True:
                params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
                page = (await client.get("/api/bookmarks", headers=headers, params=params)).json()
                for item in page["items"]:
                    detail = (
                        await client.get(f"/api/bookmarks/{item['id']}", headers=headers)
                    ).json()
                    texts.append(
                        bookmark_text(detail["title"], detail["description"], detail["text"])
                    )
                    if detail["processed_at"]:
                        done_at.append(datetime.fromisoformat(detail["processed_at"]))
                cursor = page["next_cursor"]
                if not cursor:
                    break
        cpu = {k: cpu_after[k] - cpu_before.get(k, 0.0) for k in cpu_after}
    finally:
        stop_sampling = True
        api.terminate()
        worker.terminate()
        api.wait(20)
        worker.wait(30)
        web.shutdown()
        for server in reversed(servers):
            server.stop()  # type: ignore[attr-defined]

    batches = {}
    for line in (tmp / "worker.log").read_text(errors="replace").splitlines():
        if '"embedding batches"' in line:
            batches = json.loads(line)
    raw = raw_model_rate(texts, args.batch_size)
    rate = len(pages) / elapsed
    done_at.sort()
    window = (done_at[-1] - done_at[0]).total_seconds() if len(done_at) > 1 else 0.0
    steady = (len(done_at) - 1) / window if window else float("nan")
    print(
        f"pages:                 {len(pages)} ({counts.get('ready', 0)} ready, {counts.get('failed', 0)} failed)"
    )
    what = "file parsed (import):" if args.via == "import" else "accepted (all 201s): "
    print(f"{what}  {accepted:.2f} s")
    print(f"all ready after:       {elapsed:.2f} s")
    print(f"pipeline rate:         {rate:.1f} pages/s")
    print(
        f"raw model rate:        {raw:.1f} texts/s (model.encode, batch {args.batch_size}, same texts)"
    )
    print(f"pipeline / raw model:  {rate / raw:.0%} (end to end, saves included)")
    print(
        f"embedding stage rate:  {steady:.1f} pages/s from first to last ready = {steady / raw:.0%} of raw"
    )
    print(f"worker peak RSS:       {peak / 2**20:.0f} MiB")
    print("CPU s while timed:     " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()))
    if batches:
        print(
            f"pipeline batches:      {batches['batches']} (mean {batches['mean_batch']} texts), "
            f"{batches['model_seconds']} model-thread seconds"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--via",
        choices=("save", "import"),
        default="save",
        help="save each page through POST /api/bookmarks, or import them as one bookmarks file",
    )
    parser.add_argument(
        "--warmup", type=float, default=15.0, help="seconds for the worker to load the model"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
