"""`fuze up` in a subprocess: embedded servers, migrations, API and worker; Ctrl-C stops all."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import httpx
import psutil
import pytest

from app.embedded import free_port
from tests.conftest import ROOT, Stack, service_env

FUZE = [sys.executable, "-m", "app.cli"]


def _start(
    data_dir: Path, port: int, env: dict[str, str], out: IO[str] | None = None, *args: str
) -> subprocess.Popen[str]:
    """`fuze up`; its output in a pipe (read when it stops), or in `out` for a long run that
    would fill the pipe."""
    return subprocess.Popen(
        [*FUZE, "up", "--data-dir", str(data_dir), "--port", str(port), *args],
        env=env,
        cwd=ROOT,
        stdout=out or subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_ready(proc: subprocess.Popen[str], port: int, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"fuze up exited early:\n{proc.stdout.read() if proc.stdout else ''}"
            )
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/api/health/ready", timeout=2)
            if r.status_code == 200:
                return r.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    proc.kill()
    raise AssertionError("fuze up did not become ready")


def _descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGINT) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        out, _ = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, out


def _assert_gone(procs: list[psutil.Process], within: float = 15) -> None:
    _, alive = psutil.wait_procs(procs, timeout=within)
    assert not alive, f"left running: {[(p.pid, p.name()) for p in alive]}"


@pytest.fixture
def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUZE_")}
    env["FUZE_ENV"] = "development"
    # One API process unless a test asks for more: each holds a model, on a shared machine.
    env["FUZE_API_WORKERS"] = "1"
    return env


def _assert_a_clear_start(out: str, port: int, api_processes: int = 1) -> None:
    """In development: plain text lines, no health polls, and the start ends with the address
    to open: whatever the API processes and the worker say while they start comes before it."""
    lines = out.splitlines()
    url = [i for i, line in enumerate(lines) if line.endswith(f": open http://127.0.0.1:{port}")]
    assert len(url) == 1 and "Fuze is ready in " in lines[url[0]], out
    before = "\n".join(lines[: url[0]])
    for started in ("worker started", "Application startup complete", "database migrated"):
        assert started in before, out
    # The worker's model and each API process's query encoder: that they load, and when done.
    assert before.count("loading the embedding model") == 1 + api_processes, out
    assert before.count("embedding model loaded in ") == 1 + api_processes, out
    after = "\n".join(lines[url[0] + 1 :])
    assert "loaded in" not in after and "startup" not in after, out
    assert "/api/health" not in out and "\x1b[" not in out and '{"ts":' not in out, out


def test_fuze_up_embedded_keeps_data_and_stops_cleanly(tmp_path, clean_env):
    data_dir, port = tmp_path / "data", free_port()
    log_path = tmp_path / "up.log"
    with log_path.open("w") as out:
        proc = _start(data_dir, port, clean_env, out)
    try:
        ready = _wait_ready(proc, port)
        assert ready["checks"]["worker"]["ok"] and ready["checks"]["migrations"]["ok"]
        _wait_for_line(log_path, "Fuze is ready in ")
        children = _descendants(proc.pid)
        names = " ".join(" ".join(p.cmdline()) for p in children)
        assert "postgres" in names and "valkey-server" in names
        assert "app.serve" in names and "workers" in names
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/docs").status_code == 200
        r = httpx.post(
            f"{base}/api/auth/register",
            json={"username": "keeper", "email": "k@example.com", "password": "a long password"},
        )
        assert r.status_code == 201
    finally:
        code, _ = _stop(proc)
    out = log_path.read_text()
    assert code == 0, out
    _assert_a_clear_start(out, port)
    _assert_gone(children)
    assert (data_dir / "postgres" / "pgdata" / "PG_VERSION").exists()
    assert (data_dir / "secret_key").exists()

    # A second run on the same data folder finds the account again.
    with log_path.open("w") as out:
        proc = _start(data_dir, port, clean_env, out)
    try:
        _wait_ready(proc, port)
        _wait_for_line(log_path, "Fuze is ready in ")
        r = httpx.post(
            f"http://127.0.0.1:{port}/api/auth/login",
            json={"login": "keeper", "password": "a long password"},
        )
        assert r.status_code == 200
        children = _descendants(proc.pid)
    finally:
        code, _ = _stop(proc, signal.SIGTERM)
    out = log_path.read_text()
    assert code == 0, out
    _assert_a_clear_start(out, port)
    _assert_gone(children)


def _api_processes(up: int) -> list[psutil.Process]:
    """The API processes under `fuze up`: its supervisor's (app/serve.py) spawned children."""
    try:
        for child in _descendants(up):
            if "app.serve" in " ".join(child.cmdline()):
                spawned = child.children()
                return [p for p in spawned if "multiprocessing.spawn" in " ".join(p.cmdline())]
    except psutil.Error:  # one exited meanwhile: ask again
        pass
    return []


def _connect_to(
    port: int, processes: list[psutil.Process], pid: int, within: float = 60
) -> http.client.HTTPConnection:
    """A keep-alive connection that the API process `pid` accepted (the kernel hands each new
    connection to one of the processes listening on the port: try until it is this one)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.connect()
        if _holders([conn.sock], processes, deadline - time.monotonic()) == [pid]:
            return conn
        conn.close()
    raise AssertionError(f"no connection accepted by API process {pid}")


def _holders(
    clients: list[socket.socket], processes: list[psutil.Process], within: float = 60
) -> list[int]:
    """Which API process accepted each of these connections (waiting until each is)."""
    ends = {c.getsockname(): i for i, c in enumerate(clients)}
    holders: list[int | None] = [None] * len(clients)
    deadline = time.monotonic() + within
    while None in holders:
        assert time.monotonic() < deadline, f"connections not accepted: {holders}"
        for p in processes:
            for c in p.net_connections():
                if c.raddr in ends:
                    holders[ends[c.raddr]] = p.pid
        time.sleep(0.05)
    return holders


def _call(
    conn: http.client.HTTPConnection, method: str, path: str, body: dict | None = None, token=""
) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    return response.status, json.loads(response.read() or b"null")


def test_fuze_up_serves_from_several_api_processes_that_share_their_state(tmp_path, clean_env):
    """FUZE_API_WORKERS=2: two API processes share the port, `fuze up` is ready once both
    are, and what one saves the other serves; a process killed outright is replaced by
    uvicorn's supervisor, and the supervisor killed outright (its processes with it) by
    `fuze up`."""
    data_dir, port = tmp_path / "data", free_port()
    log_path = tmp_path / "up.log"
    with log_path.open("w") as out:
        proc = _start(data_dir, port, {**clean_env, "FUZE_API_WORKERS": "2"}, out)
    try:
        _wait_ready(proc, port)
        _wait_for_line(log_path, "Fuze is ready in ")
        # Ready once both are: each has loaded its query encoder before the address is given.
        _assert_a_clear_start(log_path.read_text(), port, api_processes=2)
        assert "API: 2 processes (FUZE_API_WORKERS=2)" in log_path.read_text()
        processes = _api_processes(proc.pid)
        first, second = processes
        # A burst of connections (a browser's, a balancer's keep-alive pool) is spread over
        # both processes: each listens on a socket of its own (app/serve.py). On one shared
        # socket, the process awake at the time accepted all of them.
        burst = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(16)]
        try:
            assert set(_holders(burst, processes)) == {first.pid, second.pid}
        finally:
            for client in burst:
                client.close()
        one = _connect_to(port, processes, first.pid)
        other = _connect_to(port, processes, second.pid)
        account = {"username": "twice", "email": "t@example.com", "password": "a long password"}
        assert _call(one, "POST", "/api/auth/register", account)[0] == 201
        login = {"login": "twice", "password": account["password"]}
        code, tokens = _call(other, "POST", "/api/auth/login", login)
        assert code == 200, tokens
        token = tokens["access_token"]
        page = "<html><title>Shared state</title><body><p>Replicas share nothing.</p>"
        url = "https://example.com/shared"
        code, saved = _call(one, "POST", "/api/bookmarks", {"url": url, "html": page}, token)
        assert code == 201, saved
        code, got = _call(other, "GET", f"/api/bookmarks/{saved['id']}", token=token)
        assert code == 200 and got["url"] == url, got
        one.close()
        other.close()

        # One process killed outright: uvicorn's supervisor starts another in its place.
        first.kill()
        deadline = time.monotonic() + 120
        while len(processes := _api_processes(proc.pid)) < 2 or first in processes:
            assert time.monotonic() < deadline, "no API process replaced the killed one"
            time.sleep(0.25)
        replaced = next(p for p in processes if p.pid != second.pid)
        code, _ = _call(
            _connect_to(port, processes, replaced.pid, within=120), "GET", "/api/health"
        )
        assert code == 200

        # The supervisor killed outright: its processes stop with it (orphans would keep the
        # port), and `fuze up` starts the API again.
        supervisor = next(p for p in _descendants(proc.pid) if "app.serve" in " ".join(p.cmdline()))
        supervisor.kill()
        _assert_gone([second, replaced], within=60)
        _wait_for_line(log_path, "api exited with -9; restarting")
        _ready_again(proc, port, lambda: len(_api_processes(proc.pid)) == 2)
        children = _descendants(proc.pid)
    finally:
        code, _ = _stop(proc)
    assert code == 0, log_path.read_text()
    _assert_gone(children)


def test_fuze_up_refuses_a_count_of_api_processes_below_one(tmp_path, clean_env):
    flag = subprocess.run(
        [*FUZE, "up", "--data-dir", str(tmp_path), "--api-workers", "0"],
        env=clean_env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert flag.returncode == 2
    assert "--api-workers: API processes: a whole number of at least 1, or auto" in flag.stderr
    setting = subprocess.run(
        [*FUZE, "up", "--data-dir", str(tmp_path)],
        env={**clean_env, "FUZE_API_WORKERS": "-1"}, cwd=ROOT, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert setting.returncode == 2
    assert setting.stderr.strip() == (
        "fuze: FUZE_API_WORKERS: API processes: a whole number of at least 1, or auto, not '-1'"
    )
    assert not (tmp_path / "postgres").exists()  # nothing started


def test_fuze_up_killed_outright_leaves_no_servers_behind(tmp_path, clean_env):
    data_dir, port = tmp_path / "data", free_port()
    proc = _start(data_dir, port, clean_env)
    try:
        _wait_ready(proc, port)
        children = _descendants(proc.pid)
    finally:
        proc.kill()
        proc.wait(30)  # not communicate(): the children still hold the output pipe a moment
        if proc.stdout:
            proc.stdout.close()
    # Their parent-death signal stops them (the worker may first finish loading its model).
    _assert_gone(children, within=90)


def test_fuze_up_uses_configured_servers_and_starts_nothing_embedded(
    tmp_path, stack: Stack, clean_env
):
    data_dir, port = tmp_path / "data", free_port()
    env = {**clean_env, **service_env(stack)}
    env.pop("FUZE_DATA_DIR")
    # What a process of an earlier run left in the metrics folder is not counted again.
    stale = data_dir / "metrics" / "counter_999999999.db"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left over")
    # Its output to a file: on the shared test Valkey the worker may find other tests' jobs
    # and log each, which would fill a pipe read only at the end and stall it.
    log_path = tmp_path / "up.log"
    with log_path.open("w") as out:
        proc = _start(data_dir, port, env, out)
    try:
        _wait_ready(proc, port)
        names = " ".join(" ".join(p.cmdline()) for p in _descendants(proc.pid))
        assert "postgres" not in names and "valkey" not in names
        assert not stale.exists()
        # The API's /metrics adds up the worker's metrics too (one multiprocess folder).
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30)
        assert metrics.status_code == 200
        assert 'fuze_job_duration_seconds_count{stage="extraction"}' in metrics.text
    finally:
        code, _ = _stop(proc)
    out = log_path.read_text()
    assert code == 0, out
    assert not (data_dir / "postgres").exists()
    assert "using the database at FUZE_DATABASE_URL" in out


def test_fuze_up_refuses_a_busy_port(tmp_path, clean_env):

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run(
            [*FUZE, "up", "--data-dir", str(tmp_path), "--port", str(port)],
            env=clean_env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert "in use" in result.stderr


def test_an_orphaned_worker_that_cannot_reach_redis_stops(tmp_path: Path, stack: Stack):
    """A worker outlives Redis outages by starting again, but not once its parent is gone:
    `fuze up` killed outright takes Valkey down with it, and arq may have taken the stop
    signal while its connection was breaking."""
    env = service_env(stack, FUZE_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    log = tmp_path / "worker.log"
    spawn = (
        "import subprocess, sys, time;"
        f"p = subprocess.Popen([sys.executable, '-m', 'workers'], stderr=open({str(log)!r}, 'w'));"
        "print(p.pid, flush=True); time.sleep(600)"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", spawn], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    worker = psutil.Process(int(parent.stdout.readline()))
    deadline = time.monotonic() + 60
    while "redis connection error" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)  # up and waiting for Redis
    parent.kill()
    parent.wait(30)
    parent.stdout.close()
    _assert_gone([worker], within=60)


def _ready_again(proc: subprocess.Popen[str], port: int, healed: Callable[[], bool]) -> None:
    """Wait (generously: a busy machine) until `healed()` and /api/health/ready says 200."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert proc.poll() is None, "fuze up exited"
        if healed():
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/health/ready", timeout=5)
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
        time.sleep(0.5)
    raise AssertionError("not ready again in time")


def _save_list_and_process(base: str, headers: dict[str, str], n: int) -> None:
    """A save and a list answer, and the worker takes the saved page through the pipeline."""
    page = f"<html><title>Healing {n}</title><body><p>{'Supervisors restart servers. ' * 30}</p>"
    r = httpx.post(
        f"{base}/api/bookmarks",
        headers=headers,
        json={"url": f"https://example.com/healing/{n}", "html": page},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    saved = r.json()["id"]
    r = httpx.get(f"{base}/api/bookmarks", headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    assert saved in [b["id"] for b in r.json()["items"]]
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        b = httpx.get(f"{base}/api/bookmarks/{saved}", headers=headers, timeout=30).json()
        if b["status"] in ("ready", "failed"):
            break
        time.sleep(0.5)
    assert b["status"] == "ready", b


@contextlib.contextmanager
def _holding(port: int) -> Iterator[None]:
    """Listen on port (once its last owner, just killed, has let it go)."""
    deadline = time.monotonic() + 10
    while True:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
            break
        except OSError:
            sock.close()
            assert time.monotonic() < deadline, f"port {port} stays busy"
            time.sleep(0.01)
    try:
        yield
    finally:
        sock.close()


def _wait_for_line(log: Path, *parts: str, within: float = 120) -> None:
    deadline = time.monotonic() + within
    while not any(all(p in line for p in parts) for line in log.read_text().splitlines()):
        assert time.monotonic() < deadline, f"no line with {parts} in {log}"
        time.sleep(0.2)


def _valkey_pid(root: int) -> int:
    """The Valkey server under root (not a child it forked to write its files)."""
    for p in _descendants(root):
        if p.name() == "valkey-server" and p.parent().name() != "valkey-server":
            return p.pid
    raise AssertionError(f"no valkey-server under {root}")


def test_fuze_up_restarts_dead_embedded_servers_and_everything_reconnects(tmp_path, clean_env):
    """kill -9 of Valkey before the API is ready, of the embedded PostgreSQL, then of Valkey
    again: `fuze up` starts each again on its port and data, says so, and the API and worker
    carry on without being restarted."""
    data_dir, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "up.log"
    with log_path.open("w") as out:
        proc = _start(data_dir, port, clean_env, out)
    try:
        # Killed while the API is still starting (a cold start loads the model for long
        # after the migrations): fuze up heals it before it is ready, too.
        _wait_for_line(log_path, "database migrated to head")
        os.kill(_valkey_pid(proc.pid), signal.SIGKILL)
        _wait_ready(proc, port, timeout=300)
        names = {p.pid: " ".join(p.cmdline()) for p in _descendants(proc.pid)}
        api_pid = next(pid for pid, cmd in names.items() if "app.serve" in cmd)
        worker_pid = next(pid for pid, cmd in names.items() if cmd.endswith("-m workers"))
        r = httpx.post(
            f"{base}/api/auth/register",
            json={"username": "healer", "email": "h@example.com", "password": "a long password"},
        )
        assert r.status_code == 201, r.text
        r = httpx.post(
            f"{base}/api/auth/login", json={"login": "healer", "password": "a long password"}
        )
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        _save_list_and_process(base, headers, 0)

        pidfile = data_dir / "postgres" / "pgdata" / "postmaster.pid"
        postmaster = int(pidfile.read_text().splitlines()[0])
        os.kill(postmaster, signal.SIGKILL)

        def postgres_back() -> bool:
            lines = pidfile.read_text().splitlines() if pidfile.exists() else []
            return len(lines) > 7 and int(lines[0]) != postmaster and "ready" in lines[7]

        _ready_again(proc, port, postgres_back)
        _save_list_and_process(base, headers, 1)

        valkey = _valkey_pid(proc.pid)
        valkey_port = next(
            c.laddr.port
            for c in psutil.Process(valkey).net_connections()
            if c.status == psutil.CONN_LISTEN
        )
        os.kill(valkey, signal.SIGKILL)
        # Its port taken meanwhile, Valkey cannot start again: fuze up keeps trying, waiting
        # longer each time, and starts it once the port is free.
        with _holding(valkey_port):
            _wait_for_line(log_path, "embedded valkey did not start again", "retrying in 4 s")
        _ready_again(
            proc,
            port,
            lambda: any(
                p.name() == "valkey-server" and p.pid != valkey for p in _descendants(proc.pid)
            ),
        )
        _save_list_and_process(base, headers, 2)

        # Healed in place: the same API and worker processes, still there.
        after = {p.pid for p in _descendants(proc.pid)}
        assert api_pid in after and worker_pid in after
        assert proc.poll() is None
    finally:
        code, _ = _stop(proc)
    log = log_path.read_text()
    assert code == 0, log
    assert "embedded postgres exited (code -9); restarting in 1 s" in log
    # The second death within a minute of the first restart waits 2 s, else 1 s.
    assert log.count("embedded valkey exited (code -9); restarting in") == 2
    assert "embedded valkey did not start again" in log and "Failed listening on port" in log
    assert "embedded postgres is back" in log and log.count("embedded valkey is back") == 2


def test_fuze_services_restarts_a_dead_embedded_server(tmp_path, clean_env):
    """`fuze services` heals like `fuze up`: Valkey killed outright is started again on the
    port it printed, with a log line saying so."""
    import queue
    import threading

    import redis

    proc = subprocess.Popen(
        [*FUZE, "services", "--data-dir", str(tmp_path / "data")],
        env=clean_env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout or ()], daemon=True).start()
    seen: list[str] = []

    def wait_for_line(part: str) -> str:
        deadline = time.monotonic() + 180  # generous: a busy machine
        while time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                seen.append(lines.get(timeout=1))
                if part in seen[-1]:
                    return seen[-1]
            assert proc.poll() is None or not lines.empty(), "exited:\n" + "".join(seen)
        raise AssertionError(f"no line with {part!r} in:\n" + "".join(seen))

    try:
        url = wait_for_line("export FUZE_REDIS_URL=").split("'")[1]
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        os.kill(_valkey_pid(proc.pid), signal.SIGKILL)
        wait_for_line("embedded valkey exited")
        wait_for_line("embedded valkey is back")
        assert redis.Redis(host="127.0.0.1", port=port).ping()
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=90)
    assert code == 0


def test_fuze_services_read_replicas_stream_and_keep_their_ports(tmp_path, clean_env):
    """`fuze services --read-replicas 1`: a streaming standby of the embedded PostgreSQL, its
    URL printed as FUZE_DATABASE_READ_URLS; started again, every server is on the port it
    had (the URLs handed out before stay good) and the standby streams again."""
    import asyncio

    import asyncpg

    def run() -> tuple[subprocess.Popen[str], dict[str, str]]:
        proc = subprocess.Popen(
            [*FUZE, "services", "--data-dir", str(tmp_path / "data"), "--read-replicas", "1"],
            env=clean_env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        exports: dict[str, str] = {}
        seen: list[str] = []
        for line in proc.stdout or ():  # generous: no time limit but the test's own
            seen.append(line)
            if line.startswith("export "):
                name, value = line.removeprefix("export ").strip().split("=", 1)
                exports[name] = value.strip("'")
            if "FUZE_REDIS_URL" in exports:
                return proc, exports
        raise AssertionError("exited:\n" + "".join(seen))

    async def standby_state(primary: str, standby: str) -> tuple[bool, str]:
        conn = await asyncpg.connect(primary)
        try:
            await conn.execute("CREATE TABLE IF NOT EXISTS replicated (n int)")
            await conn.execute("INSERT INTO replicated VALUES (1)")
            lsn = await conn.fetchval("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
        finally:
            await conn.close()
        conn = await asyncpg.connect(standby)
        try:
            for _ in range(600):  # until it has replayed the insert
                if await conn.fetchval("SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn") >= lsn:
                    break
                await asyncio.sleep(0.1)
            count = await conn.fetchval("SELECT count(*) FROM replicated")
            return await conn.fetchval("SELECT pg_is_in_recovery()"), f"{count} rows"
        finally:
            await conn.close()

    first: dict[str, str] = {}
    for run_number in (1, 2):
        proc, exports = run()
        try:
            assert set(exports) == {
                "FUZE_DATABASE_URL",
                "FUZE_DATABASE_READ_URLS",
                "FUZE_REDIS_URL",
            }
            in_recovery, rows = asyncio.run(
                standby_state(exports["FUZE_DATABASE_URL"], exports["FUZE_DATABASE_READ_URLS"])
            )
            assert in_recovery and rows == f"{run_number} rows"
            if run_number == 1:
                first = exports
            else:
                assert exports == first
        finally:
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=90) == 0


def test_fuze_services_redis_ha_serves_through_sentinel_and_keeps_queued_data(tmp_path, clean_env):
    """`fuze services --redis-ha`: a redis+sentinel URL whose primary, killed outright, comes
    back (restarted, or replaced by the replica) still holding what was written before; and
    Ctrl-C leaves none of the five servers behind."""
    import asyncio

    from app.broker import create_redis
    from app.config import Settings

    data_dir = tmp_path / "data"
    proc = subprocess.Popen(
        [*FUZE, "services", "--redis-ha", "--data-dir", str(data_dir)],
        env=clean_env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out: list[str] = []
    try:
        for line in proc.stdout or ():
            out.append(line)
            if "export FUZE_REDIS_URL=" in line:
                break
        url = out[-1].split("'")[1]
        assert url.startswith("redis+sentinel://") and url.endswith("/fuze/0"), out
        # Its own children: not a child a server forked to write its files.
        servers = [p for p in psutil.Process(proc.pid).children() if p.name() == "valkey-server"]
        assert len(servers) == 5, servers
        # Valkey names itself `valkey-server 127.0.0.1:<port>`; the primary's port is first.
        primary_port = (data_dir / "valkey-ha" / "ports").read_text().split()[0]
        primary = next(p for p in servers if f":{primary_port}" in " ".join(p.cmdline()))

        async def write_kill_read() -> bytes | None:
            redis = create_redis(Settings(redis_url=url))
            try:
                await redis.enqueue_job("ping", _job_id="queued-before-the-kill")
                os.kill(primary.pid, signal.SIGKILL)
                return await redis.get("arq:job:queued-before-the-kill")
            finally:
                await redis.aclose()

        assert asyncio.run(write_kill_read()) is not None
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=90)
    assert code == 0
    _assert_gone(servers)


def test_a_port_promised_to_the_api_is_never_handed_to_an_embedded_server(tmp_path):
    """`fuze up` starts its embedded servers before the API binds its port: a server's port,
    kept from an earlier run or new, must not be that one (uvicorn then failed to bind)."""
    from app import embedded

    kept = tmp_path / "port"
    first = embedded.kept_port(kept)
    embedded.reserve_port(first)
    try:
        again = embedded.kept_port(kept)
        assert again != first
        assert int(kept.read_text()) == again
        assert all(embedded.free_port() != first for _ in range(50))
    finally:
        embedded._RESERVED.discard(first)
