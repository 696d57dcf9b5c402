"""Requests per second and CPU per request of the API's routes, for one user with N bookmarks:
health, list (cursor pages), get one, keyword search, semantic search (new queries), save and
cached recommendations; sequential and at concurrency 8; p50/p95/p99; CPU per request of the
API, the worker, PostgreSQL and Valkey (from /proc/<pid>/stat, children included; the last
two only when the benchmark started them) and of this client.

    .venv/bin/python bench/throughput.py [--size 500] [--seconds 5] [--api-workers auto]
    .venv/bin/python bench/throughput.py --compare /tmp/fuze-before   # interleaved A/B
    .venv/bin/python bench/throughput.py --api-workers 1,2   # 1 API process against 2

The client is a minimal keep-alive HTTP/1.1 client (one connection per concurrent caller):
httpx spends 1.5-2 ms of CPU per request, on the same cores as the server it measures.
`--compare DIR` starts a second API from another checkout (e.g. `git archive <commit> | tar
-x -C DIR`) on the same database and measures the two in turn, route by route, so that both
see the same load on a shared machine; `--api-workers 1,2` does the same with one API of
each process count (`fuze api --workers N`, as `fuze up --api-workers N` runs it). Beside the
routes: the encoder floor (one query encoded in this process, the API's ONNX encoder, one
thread), and each API's memory (resident, all its processes) at the end.

The API logs as `fuze up` runs it in production: level INFO, one JSON access line per
request, here into a file of the benchmark's folder (`api-<port>.log`, rewritten each run).
`--log-level WARNING` leaves the access lines out (about 0.04 ms of the API's CPU a request).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.search_latency import fill, vocabulary  # noqa: E402
from bench.servers import api_env, start_servers, wait_until_up  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
Request = tuple[str, str, bytes | None]  # method, path, JSON body


def tree(pid: int) -> list[int]:
    """pid and its descendants (uvicorn --workers forks its processes)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found = [pid]
    for p in found:
        found += [c for c, parent in parents.items() if parent == p]
    return found


def resident_mb(pid: int) -> list[float]:
    """Resident memory (MB) of pid and each of its descendants."""
    sizes = []
    for p in tree(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        kb = next(
            (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")), 0
        )
        sizes.append(kb / 1024)
    return sizes


def cpu_seconds(pid: int) -> float:
    """User + system CPU of pid and its live descendants, and their reaped children."""
    total = 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / TICK


class Connection:
    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port, self.token = host, port, token

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def send(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {self.token}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + (body or b""))
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.split(b"\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in lines
            if line.lower().startswith(b"content-length:")
        )
        return int(lines[0].split()[1]), await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


@dataclass
class Api:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    token: str = ""
    rows: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Result:
    samples: list[float]
    seconds: float
    cpu: dict[str, float]  # ms per request by process

    def line(self, label: str, concurrency: int) -> str:
        q = statistics.quantiles(self.samples, n=100) if len(self.samples) > 1 else [0.0] * 99
        n = len(self.samples)
        cpu = "  ".join(f"{k} {v:.2f}" for k, v in self.cpu.items())
        return (
            f"| {label} | c{concurrency} | {n / self.seconds:,.0f} | {q[49]:.1f} | {q[94]:.1f}"
            f" | {q[98]:.1f} | {cpu} |"
        )


async def phase(
    api: Api, worker: subprocess.Popen[bytes] | None, make: Callable[[int], Request],
    concurrency: int, seconds: float, servers: dict[str, int],
) -> Result:  # fmt: skip
    conns = [Connection("127.0.0.1", api.port, api.token) for _ in range(concurrency)]
    for c in conns:
        await c.open()
    samples: list[float] = []
    counter = iter(range(10**9))
    pids = {"api": api.process.pid}
    if worker is not None:
        pids["worker"] = worker.pid
    pids.update(servers)
    before = {k: cpu_seconds(p) for k, p in pids.items()}
    client = time.process_time()  # this process alone: its children are the servers
    started = time.perf_counter()
    deadline = started + seconds

    async def caller(conn: Connection) -> None:
        while time.perf_counter() < deadline:
            method, path, body = make(next(counter))
            t = time.perf_counter()
            code, answer = await conn.send(method, path, body)
            samples.append((time.perf_counter() - t) * 1000)
            if code >= 300:
                raise RuntimeError(f"{method} {path}: {code} {answer[:300]!r}")

    try:
        await asyncio.gather(*(caller(c) for c in conns))
    finally:
        for c in conns:
            c.close()
    elapsed = time.perf_counter() - started
    n = max(len(samples), 1)
    cpu = {k: (cpu_seconds(p) - before[k]) * 1000 / n for k, p in pids.items()}
    cpu["client"] = (time.process_time() - client) * 1000 / n
    return Result(samples, elapsed, cpu)


def encoder_floor(queries: list[str]) -> str:
    """CPU per query of the API's query encoder, here in one thread: the part of a semantic
    search no serving code can cut."""
    from app.embeddings.query_encoder import INSTALLED, open_encoder
    from app.embeddings.service import model_path

    encoder = open_encoder(Path(tempfile.mkdtemp()), model_path(), installed=INSTALLED)
    if encoder is None:
        return "encoder floor: no ONNX encoder here"
    for q in queries[:20]:
        encoder.encode([q])
    cpu = time.process_time()
    wall = time.perf_counter()
    for q in queries[20:]:
        encoder.encode([q])
    n = len(queries) - 20
    return (
        f"encoder floor (one query, one thread, in this process): "
        f"{(time.process_time() - cpu) * 1000 / n:.2f} ms CPU, "
        f"{(time.perf_counter() - wall) * 1000 / n:.2f} ms wall per query"
    )


async def prepare(api: Api, vocab: list[str], rng: random.Random, projects: int) -> None:
    """Sign in; read the list's cursors and the bookmark ids; projects whose recommendations
    are computed once, so that the timed calls are served from the cache."""
    base = f"http://127.0.0.1:{api.port}"
    async with httpx.AsyncClient(base_url=base, timeout=120) as c:
        r = await c.post("/api/auth/login", json={"login": "bench", "password": "bench password"})
        r.raise_for_status()
        api.token = r.json()["access_token"]
        headers = {"Authorization": f"Bearer {api.token}"}
        pages, ids, cursor = [], [], None
        while len(pages) < 200:
            params: dict[str, str | int] = {"limit": 20}
            if cursor:
                params["cursor"] = cursor
            pages.append("/api/bookmarks?" + urlencode(params))
            page = (await c.get("/api/bookmarks", params=params, headers=headers)).json()
            ids += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        api.rows["list"] = pages
        api.rows["get"] = [f"/api/bookmarks/{i}" for i in ids]
        recs = []
        existing = (await c.get("/api/projects", headers=headers)).json()
        listed = existing["items"] if isinstance(existing, dict) else existing
        project_ids = [p["id"] for p in listed][:projects]
        while len(project_ids) < projects:
            r = await c.post(
                "/api/projects",
                headers=headers,
                json={
                    "title": " ".join(rng.choices(vocab, k=rng.randint(2, 5))),
                    "description": " ".join(rng.choices(vocab, k=12)),
                    "technologies": rng.choices(vocab, k=2),
                },
            )
            r.raise_for_status()
            project_ids.append(r.json()["id"])
        for pid in project_ids:
            path = f"/api/projects/{pid}/recommendations"
            (await c.get(path, headers=headers)).raise_for_status()
            recs.append(path)
        api.rows["recs"] = recs


# uvicorn re-raises SIGTERM after its shutdown, so cProfile's own exit never comes.
PROFILED = """
import cProfile, os, runpy, signal, sys
profile = cProfile.Profile()
def dump(*_):
    profile.disable()
    profile.dump_stats({file!r})
    os._exit(0)
signal.signal(signal.SIGUSR1, dump)
sys.argv = sys.argv[1:]
profile.enable()
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


def start_api(
    root: Path,
    env: dict[str, str],
    port: int,
    workers: int,
    log: Path,
    profile: str | None = None,
) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "app.cli", "api", "--port", str(port), "--workers", str(workers)]
    if profile:  # uvicorn itself under cProfile (one process), written on SIGUSR1
        from app.cli import _api_argv

        argv = [
            sys.executable,
            "-c",
            PROFILED.format(file=profile),
            *_api_argv("127.0.0.1", port)[2:],
        ]
    with log.open("wb") as out:  # the child keeps its own copy of the file
        return subprocess.Popen(
            argv, env={**env, "PYTHONPATH": str(root)}, cwd=root,
            stdout=subprocess.DEVNULL, stderr=out,
        )  # fmt: skip


async def run(args: argparse.Namespace) -> None:
    from app.embedded import free_port

    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="fuze-throughput-"))
    folder.mkdir(parents=True, exist_ok=True)
    database_url, redis_url, servers = await start_servers(folder)
    rng = random.Random(11)
    # The servers' processes, for their CPU per request (PostgreSQL's backends are children
    # of its postmaster).
    server_pids = {
        ("db" if type(s).__name__ == "EmbeddedPostgres" else "valkey"): s.child.pid
        for s in servers
        if getattr(s, "child", None) is not None and s.child.pid is not None
    }
    vocab = vocabulary()
    closed_port = free_port()  # saved pages point here: the worker's fetch fails at once
    env = {
        **api_env(folder, database_url, redis_url),
        "FUZE_ALLOW_PRIVATE_NETWORKS": "true",
        "FUZE_LOG_LEVEL": args.log_level,
    }
    roots = [("this", ROOT)] + ([("compare", Path(args.compare))] if args.compare else [])
    # auto: as many as `fuze up` runs here (FUZE_API_WORKERS=auto: one per core, at most 4).
    from app.config import Settings

    auto = Settings(api_workers="auto").api_processes()
    counts = [auto if n == "auto" else int(n) for n in args.api_workers.split(",")]
    apis = [
        Api(
            ", ".join(
                ([name] if len(roots) > 1 else [])
                + ([f"{n} process{'es' if n > 1 else ''}"] if len(counts) > 1 else [])
            ),
            port,
            start_api(root, env, port, n, folder / f"api-{port}.log", args.profile),
        )
        for name, root in roots
        for n in counts
        for port in [free_port()]
    ]
    worker = None
    try:
        # Ready means a worker's heartbeat too (app/health): without one, only up.
        if not args.no_worker:
            worker = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "worker"], env=env, cwd=ROOT,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        ready = "/api/health" if args.no_worker else "/api/health/ready"
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{apis[0].port}", timeout=60) as c:
            for api in apis:
                await wait_until_up(c, f"http://127.0.0.1:{api.port}{ready}", 600)
            await c.post(
                "/api/auth/register",
                json={
                    "username": "bench",
                    "email": "bench@example.com",
                    "password": "bench password",
                },
            )  # (a 409 on a kept database)
            token = (
                await c.post(
                    "/api/auth/login", json={"login": "bench", "password": "bench password"}
                )
            ).json()["access_token"]
            me = (await c.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})).json()
        import uuid

        state_file = folder / "bench-state.json"
        have = json.loads(state_file.read_text())["have"] if state_file.exists() else 0
        if args.size > have:
            started = time.perf_counter()
            await fill(database_url, uuid.UUID(me["id"]), args.size - have, vocab, rng)
            state_file.write_text(json.dumps({"have": args.size}))
            print(f"{args.size - have} bookmarks inserted in {time.perf_counter() - started:.0f} s")
        for api in apis:
            await prepare(api, vocab, rng, args.projects)
        words = [w for w in vocab if len(w) > 4]
        saved = iter(range(10**9))
        # Saved pages and queries new to this run, also on a kept database (--keep), where
        # the last run's are saved already and their vectors cached.
        run_id = random.SystemRandom().getrandbits(32)
        queries = iter(
            " ".join(rng.choices(vocab, k=rng.randint(2, 5))) + f" {run_id % 10**4} {i}"
            for i in range(10**9)
        )

        def routes(api: Api) -> dict[str, Callable[[int], Request]]:
            return {
                "health": lambda i: ("GET", "/api/health", None),
                "list (20 per page)": lambda i: ("GET", api.rows["list"][i % len(api.rows["list"])], None),
                "get one": lambda i: ("GET", api.rows["get"][i % len(api.rows["get"])], None),
                "keyword search": lambda i: (
                    "GET", "/api/search?" + urlencode({"q": words[i % len(words)], "mode": "keyword", "limit": 20}), None,
                ),
                "semantic search (new queries)": lambda i: (
                    "GET", "/api/search?" + urlencode({"q": next(queries), "mode": "semantic", "limit": 20}), None,
                ),
                "cached recommendations": lambda i: ("GET", api.rows["recs"][i % len(api.rows["recs"])], None),
                # Last: a save bumps the data version, so no answer cached before it is one after.
                "save": lambda i: (
                    "POST", "/api/bookmarks",
                    json.dumps({"url": f"http://127.0.0.1:{closed_port}/{run_id}/{next(saved)}"}).encode(),
                ),
            }  # fmt: skip

        only = set(args.routes.split(",")) if args.routes else None
        print(
            f"\n{args.size} bookmarks; {args.seconds:g} s per cell; API processes: {','.join(map(str, counts))};"
            f" API log level {args.log_level}; {os.cpu_count()} cores;"
            f" load average {os.getloadavg()[0]:.2f}\n"
        )
        print("| route | conc. | req/s | p50 ms | p95 ms | p99 ms | CPU ms per request |")
        print("|---|---|---|---|---|---|---|")
        for name in routes(apis[0]):
            if only and not any(o in name for o in only):
                continue
            for concurrency in (1, 8):
                for api in apis:  # interleaved: each API in turn, cell by cell
                    make = routes(api)[name]
                    await phase(
                        api, worker, make, concurrency, min(1.0, args.seconds), server_pids
                    )  # warm
                    result = await phase(api, worker, make, concurrency, args.seconds, server_pids)
                    label = name if len(apis) == 1 else f"{name} [{api.name}]"
                    print(result.line(label, concurrency), flush=True)
        print(f"\n{encoder_floor([next(queries) for _ in range(220)])}")
        for api in apis:
            sizes = resident_mb(api.process.pid)
            print(
                f"memory{f' [{api.name}]' if len(apis) > 1 else ''}: {sum(sizes):.0f} MB resident"
                f" in {len(sizes)} processes ({', '.join(f'{s:.0f}' for s in sizes)} MB)"
            )
        print(f"load average at the end {os.getloadavg()[0]:.2f}")
    finally:
        if args.profile:
            import signal

            apis[0].process.send_signal(signal.SIGUSR1)
            apis[0].process.wait(30)
        for p in [worker, *(a.process for a in apis)]:
            if p is not None and p.poll() is None:
                p.terminate()
                p.wait(30)
        for server in reversed(servers):
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=500, help="bookmarks of the user")
    parser.add_argument("--seconds", type=float, default=5, help="per route and concurrency")
    parser.add_argument(
        "--api-workers",
        default="auto",
        help="uvicorn processes (auto: as fuze up, one per core up to 4), or several: 1,2",
    )
    parser.add_argument("--projects", type=int, default=20)
    parser.add_argument("--routes", help="comma-separated substrings of the routes to run")
    parser.add_argument("--compare", metavar="DIR", help="another checkout's API, interleaved")
    parser.add_argument("--no-worker", action="store_true", help="no arq worker (saves queue up)")
    parser.add_argument("--profile", metavar="FILE", help="run the API under cProfile into FILE")
    parser.add_argument("--keep", metavar="DIR", help="build the database in DIR, reuse it later")
    parser.add_argument(
        "--log-level",
        default="INFO",
        help="the API's FUZE_LOG_LEVEL (INFO, as fuze up: an access line per request)",
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
